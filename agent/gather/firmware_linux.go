package gather

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	parcv1 "parc/proto/parc/v1"
)

// chassisTypes names SMBIOS chassis type codes (DMTF DSP0134, 7.4.1).
var chassisTypes = map[int]string{
	1: "Other", 2: "Unknown", 3: "Desktop", 4: "Low Profile Desktop", 5: "Pizza Box",
	6: "Mini Tower", 7: "Tower", 8: "Portable", 9: "Laptop", 10: "Notebook",
	11: "Hand Held", 12: "Docking Station", 13: "All in One", 14: "Sub Notebook",
	15: "Space-saving", 16: "Lunch Box", 17: "Main Server Chassis", 18: "Expansion Chassis",
	19: "SubChassis", 20: "Bus Expansion Chassis", 21: "Peripheral Chassis", 22: "RAID Chassis",
	23: "Rack Mount Chassis", 24: "Sealed-case PC", 25: "Multi-system chassis",
	26: "Compact PCI", 27: "Advanced TCA", 28: "Blade", 29: "Blade Enclosure", 30: "Tablet",
	31: "Convertible", 32: "Detachable", 33: "IoT Gateway", 34: "Embedded PC",
	35: "Mini PC", 36: "Stick PC",
}

// firmwareGatherer reads BIOS, product, board and chassis identity from
// /sys/class/dmi/id and drops placeholder values. The serial numbers and
// UUID are readable by root only; as another user they stay empty.
func firmwareGatherer(_ context.Context, env *Env) (*parcv1.Inventory, error) {
	dir := env.Path("/sys/class/dmi/id")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotPresent // no DMI: ARM boards, some VMs, containers
	}
	r := func(name string) string { return junk(readString(filepath.Join(dir, name))) }
	fw := &parcv1.Firmware{
		BiosVendor:      r("bios_vendor"),
		BiosVersion:     r("bios_version"),
		BiosDate:        r("bios_date"),
		SystemVendor:    r("sys_vendor"),
		ProductName:     r("product_name"),
		Serial:          r("product_serial"),
		Uuid:            r("product_uuid"),
		AssetTag:        r("chassis_asset_tag"),
		BoardVendor:     r("board_vendor"),
		BoardName:       r("board_name"),
		BoardSerial:     r("board_serial"),
		ChassisVendor:   r("chassis_vendor"),
		ChassisSerial:   r("chassis_serial"),
		ChassisAssetTag: r("chassis_asset_tag"),
	}
	if a := r("board_asset_tag"); fw.AssetTag == "" {
		fw.AssetTag = a
	}
	if t, err := strconv.Atoi(readString(filepath.Join(dir, "chassis_type"))); err == nil {
		fw.ChassisType = chassisTypes[t]
	}
	return &parcv1.Inventory{Firmware: fw}, nil
}
