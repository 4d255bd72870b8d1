package gather

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	parcv1 "parc/proto/parc/v1"
)

// pciClasses names PCI base classes (the first byte of the class code).
var pciClasses = map[string]string{
	"00": "Unclassified", "01": "Mass storage controller", "02": "Network controller",
	"03": "Display controller", "04": "Multimedia controller", "05": "Memory controller",
	"06": "Bridge", "07": "Communication controller", "08": "Generic system peripheral",
	"09": "Input device controller", "0a": "Docking station", "0b": "Processor",
	"0c": "Serial bus controller", "0d": "Wireless controller", "0e": "Intelligent controller",
	"0f": "Satellite communications controller", "10": "Encryption controller",
	"11": "Signal processing controller", "12": "Processing accelerators", "13": "Non-Essential Instrumentation",
	"40": "Coprocessor", "ff": "Unassigned class",
}

// devicesGatherer lists PCI devices (GPUs are those of class 03, display
// controllers) and USB devices straight from /sys/bus, naming them from the
// pci.ids and usb.ids databases when present. ghw's pci module would load
// and index the whole pci.ids database first; one pass over the file that
// keeps only the ids present is several times faster.
func devicesGatherer(_ context.Context, env *Env) (*parcv1.Inventory, error) {
	devs := &parcv1.Devices{}
	var errs []error
	pci, err := readPCI(env)
	if err != nil {
		errs = append(errs, err)
	}
	for _, d := range pci {
		devs.Pci = append(devs.Pci, d)
		if strings.HasPrefix(d.Class, "Display controller") {
			devs.Gpus = append(devs.Gpus, d)
		}
	}
	usb, err := readUSB(env)
	if err != nil {
		errs = append(errs, err)
	}
	devs.Usb = usb
	if len(pci) == 0 && len(usb) == 0 && len(errs) == 2 && errors.Is(errs[0], ErrNotPresent) && errors.Is(errs[1], ErrNotPresent) {
		return nil, ErrNotPresent // no /sys/bus at all (containers without sysfs)
	}
	// A bus that does not exist (no USB controller) is not a failure;
	// flatten drops the ErrNotPresent parts of the joined error.
	return &parcv1.Inventory{Devices: devs}, errors.Join(errs...)
}

type pciID struct{ vendor, device string }

func readPCI(env *Env) ([]*parcv1.Device, error) {
	dir := env.Path("/sys/bus/pci/devices")
	des, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("pci: %w", ErrNotPresent)
	}
	if err != nil {
		return nil, fmt.Errorf("pci: %w", err)
	}
	var out []*parcv1.Device
	var want []pciID
	for _, de := range des {
		p := filepath.Join(dir, de.Name())
		v := strings.TrimPrefix(readString(filepath.Join(p, "vendor")), "0x")
		d := strings.TrimPrefix(readString(filepath.Join(p, "device")), "0x")
		class := strings.TrimPrefix(readString(filepath.Join(p, "class")), "0x")
		dev := &parcv1.Device{Address: de.Name(), Vendor: v, Product: d}
		if len(class) >= 2 {
			dev.Class = pciClasses[class[:2]]
		}
		if l, err := os.Readlink(filepath.Join(p, "driver")); err == nil {
			dev.Driver = filepath.Base(l)
		}
		out = append(out, dev)
		want = append(want, pciID{v, d})
	}
	names := lookupIDs(env, want, "/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids")
	for _, dev := range out {
		id := pciID{dev.Vendor, dev.Product}
		if n, ok := names[pciID{id.vendor, ""}]; ok {
			dev.Vendor = n
		}
		if n, ok := names[id]; ok {
			dev.Product = n
		}
	}
	return out, nil
}

func readUSB(env *Env) ([]*parcv1.Device, error) {
	dir := env.Path("/sys/bus/usb/devices")
	des, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("usb: %w", ErrNotPresent)
	}
	if err != nil {
		return nil, fmt.Errorf("usb: %w", err)
	}
	var out []*parcv1.Device
	var want []pciID
	for _, de := range des {
		p := filepath.Join(dir, de.Name())
		v := readString(filepath.Join(p, "idVendor"))
		if v == "" {
			continue // an interface, not a device
		}
		d := readString(filepath.Join(p, "idProduct"))
		dev := &parcv1.Device{Address: de.Name(), Vendor: v, Product: d, Class: usbClass(readString(filepath.Join(p, "bDeviceClass")))}
		if m := readString(filepath.Join(p, "manufacturer")); m != "" {
			dev.Vendor = m
		}
		if pr := readString(filepath.Join(p, "product")); pr != "" {
			dev.Product = pr
		}
		if l, err := os.Readlink(filepath.Join(p, "driver")); err == nil {
			dev.Driver = filepath.Base(l)
		}
		out = append(out, dev)
		want = append(want, pciID{v, d})
	}
	names := lookupIDs(env, want, "/usr/share/misc/usb.ids", "/var/lib/usbutils/usb.ids", "/usr/share/hwdata/usb.ids")
	for i, dev := range out {
		if dev.Vendor == want[i].vendor {
			if n, ok := names[pciID{want[i].vendor, ""}]; ok {
				dev.Vendor = n
			}
		}
		if dev.Product == want[i].device {
			if n, ok := names[want[i]]; ok {
				dev.Product = n
			}
		}
	}
	return out, nil
}

var usbClasses = map[string]string{
	"00": "", "01": "Audio", "02": "Communications", "03": "Human Interface Device", "05": "Physical",
	"06": "Imaging", "07": "Printer", "08": "Mass Storage", "09": "Hub", "0a": "CDC Data",
	"0b": "Smart Card", "0e": "Video", "e0": "Wireless", "ef": "Miscellaneous", "ff": "Vendor Specific",
}

func usbClass(c string) string { return usbClasses[strings.ToLower(c)] }

// lookupIDs scans a pci.ids/usb.ids style database once and returns the
// names of the wanted vendors ({vendor, ""}) and devices.
func lookupIDs(env *Env, want []pciID, paths ...string) map[pciID]string {
	names := map[pciID]string{}
	if len(want) == 0 {
		return names
	}
	vendors := map[string]bool{}
	devices := map[pciID]bool{}
	for _, w := range want {
		vendors[w.vendor] = true
		devices[w] = true
	}
	var b []byte
	for _, p := range paths {
		var err error
		if b, err = os.ReadFile(env.Path(p)); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			env.Logger.Debug("read ids database", "path", p, "err", err)
		}
	}
	vendor := ""
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if len(line) < 6 || line[0] == '#' {
			continue
		}
		if line[0] != '\t' {
			// "C 03  Display controller" and other trailing lists end the
			// vendor section.
			if line[1] == ' ' {
				break
			}
			vendor = ""
			if id := string(line[:4]); vendors[id] {
				vendor = id
				names[pciID{id, ""}] = strings.TrimSpace(string(line[4:]))
			}
			continue
		}
		if vendor == "" || line[1] == '\t' {
			continue
		}
		if id := (pciID{vendor, string(line[1:5])}); devices[id] {
			names[id] = strings.TrimSpace(string(line[5:]))
		}
	}
	return names
}
