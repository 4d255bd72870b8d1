package cmdb

import "encoding/binary"

// Encoding a software record through the reflection encoder costs a field
// lookup and an interface call per string, hundreds of times per record, on
// every inventory the collector ingests. appendSoftwareCBOR writes the same
// bytes directly; the tests hold it to encMode.Marshal byte for byte.
//
// Like the library, it writes strings as they are, without checking their
// UTF-8 (the decoders reject invalid UTF-8, so such a record would not read
// back either way).

// appendSoftwareCBOR appends the CBOR of rec to dst, exactly as
// encMode.Marshal(rec) writes it: a map {1: items}, items null when nil,
// each item a map of its fields in key order, Arch, Publisher, Source and
// Installed left out when zero.
func appendSoftwareCBOR(dst []byte, rec *SoftwareRecord) []byte {
	dst = append(dst, 0xa1, 0x01) // map(1), key 1
	if rec.Items == nil {
		return append(dst, 0xf6) // null
	}
	dst = appendCBORHead(dst, 4, uint64(len(rec.Items)))
	for i := range rec.Items {
		dst = appendInstalledCBOR(dst, &rec.Items[i])
	}
	return dst
}

// appendInstalledCBOR appends the CBOR of one package of a software record.
func appendInstalledCBOR(dst []byte, it *Installed) []byte {
	n := byte(3)
	for _, s := range [...]string{it.Arch, it.Publisher, it.Source} {
		if s != "" {
			n++
		}
	}
	if it.Installed != 0 {
		n++
	}
	dst = append(dst, 0xa0|n) // map(n), n <= 7
	dst = appendCBORText(append(dst, 0x01), it.Title)
	dst = appendCBORText(append(dst, 0x02), it.Name)
	dst = appendCBORText(append(dst, 0x03), it.Version)
	if it.Arch != "" {
		dst = appendCBORText(append(dst, 0x04), it.Arch)
	}
	if it.Publisher != "" {
		dst = appendCBORText(append(dst, 0x05), it.Publisher)
	}
	if it.Source != "" {
		dst = appendCBORText(append(dst, 0x06), it.Source)
	}
	switch {
	case it.Installed > 0:
		dst = appendCBORHead(append(dst, 0x07), 0, uint64(it.Installed))
	case it.Installed < 0:
		// -1-x in two's complement is ^x, which also covers MinInt64.
		dst = appendCBORHead(append(dst, 0x07), 1, uint64(^it.Installed))
	}
	return dst
}

// appendCBORText appends s as a CBOR text string.
func appendCBORText(dst []byte, s string) []byte {
	return append(appendCBORHead(dst, 3, uint64(len(s))), s...)
}

// appendCBORHead appends the shortest head of a data item of the given
// major type and argument.
func appendCBORHead(dst []byte, major byte, arg uint64) []byte {
	m := major << 5
	switch {
	case arg < 24:
		return append(dst, m|byte(arg))
	case arg <= 0xff:
		return append(dst, m|24, byte(arg))
	case arg <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(arg))
	case arg <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(arg))
	}
	return binary.BigEndian.AppendUint64(append(dst, m|27), arg)
}
