package gather

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	parcv1 "parc/proto/parc/v1"
)

// smbiosMemoryTypes names SMBIOS type 17 memory types (DSP0134 7.18.2).
var smbiosMemoryTypes = map[byte]string{
	0x01: "Other", 0x03: "DRAM", 0x07: "RAM", 0x0F: "SDRAM", 0x11: "RDRAM", 0x12: "DDR",
	0x13: "DDR2", 0x14: "DDR2 FB-DIMM", 0x18: "DDR3", 0x1A: "DDR4", 0x1B: "LPDDR",
	0x1C: "LPDDR2", 0x1D: "LPDDR3", 0x1E: "LPDDR4", 0x1F: "Logical non-volatile device",
	0x20: "HBM", 0x21: "HBM2", 0x22: "DDR5", 0x23: "LPDDR5", 0x24: "HBM3",
}

// dimmsGatherer lists the populated memory slots from the raw SMBIOS table
// the kernel exports at /sys/firmware/dmi/tables/DMI. The file is readable
// by root only; without it the memory section has the total only.
func dimmsGatherer(_ context.Context, env *Env) (*parcv1.Inventory, error) {
	b, err := os.ReadFile(env.Path("/sys/firmware/dmi/tables/DMI"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotPresent
	}
	if err != nil {
		return nil, fmt.Errorf("read SMBIOS table: %w", err)
	}
	dimms, err := parseSMBIOSMemory(b)
	return &parcv1.Inventory{Memory: &parcv1.Memory{Dimms: dimms}}, err
}

// parseSMBIOSMemory returns the installed memory devices (structure type
// 17) of an SMBIOS structure table.
func parseSMBIOSMemory(b []byte) ([]*parcv1.DIMM, error) {
	var out []*parcv1.DIMM
	for len(b) >= 4 {
		typ, length := b[0], int(b[1])
		if length < 4 || length > len(b) {
			return out, fmt.Errorf("SMBIOS structure of type %d has bad length %d: %w", typ, length, ErrMalformed)
		}
		formatted := b[:length]
		// The string set follows the formatted area and ends with two NULs.
		end := length
		for end+1 < len(b) && !(b[end] == 0 && b[end+1] == 0) {
			end++
		}
		strs := strings.Split(string(b[length:min(end, len(b))]), "\x00")
		str := func(off int) string {
			if off >= len(formatted) {
				return ""
			}
			i := int(formatted[off])
			if i == 0 || i > len(strs) {
				return ""
			}
			return junk(strs[i-1])
		}
		if typ == 127 {
			break // end of table
		}
		if typ == 17 && length >= 0x15 {
			if d := memoryDevice(formatted, str); d != nil {
				out = append(out, d)
			}
		}
		b = b[min(end+2, len(b)):]
	}
	return out, nil
}

func memoryDevice(f []byte, str func(int) string) *parcv1.DIMM {
	size := uint64(binary.LittleEndian.Uint16(f[0x0C:]))
	switch {
	case size == 0 || size == 0xFFFF:
		return nil // empty slot, or unknown size
	case size == 0x7FFF && len(f) >= 0x20:
		size = uint64(binary.LittleEndian.Uint32(f[0x1C:])&0x7FFFFFFF) << 20
	case size&0x8000 != 0:
		size = (size & 0x7FFF) << 10
	default:
		size <<= 20
	}
	d := &parcv1.DIMM{
		Locator:   str(0x10),
		SizeBytes: size,
		Type:      smbiosMemoryTypes[f[0x12]],
	}
	if len(f) >= 0x17 {
		d.SpeedMts = uint32(binary.LittleEndian.Uint16(f[0x15:]))
	}
	if len(f) >= 0x1B {
		d.Vendor, d.Serial, d.PartNumber = str(0x17), str(0x18), str(0x1A)
	}
	return d
}
