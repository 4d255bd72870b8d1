package gather

import (
	"strconv"
	"strings"

	"golang.org/x/sys/windows/registry"
)

// winRegistry is the RegistryReader of the running Windows machine.
type winRegistry struct{}

func openKey(path string) (registry.Key, error) {
	hive, sub, _ := strings.Cut(path, `\`)
	var root registry.Key
	switch hive {
	case "HKLM":
		root = registry.LOCAL_MACHINE
	case "HKU":
		root = registry.USERS
	case "HKCU":
		root = registry.CURRENT_USER
	default:
		return 0, registry.ErrNotExist
	}
	// KEY_WOW64_64KEY: a 32-bit agent must still see the 64-bit view.
	return registry.OpenKey(root, sub, registry.READ|registry.WOW64_64KEY)
}

func (winRegistry) SubKeys(path string) ([]string, error) {
	k, err := openKey(path)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	return k.ReadSubKeyNames(-1)
}

func (winRegistry) Values(path string) (map[string]string, error) {
	k, err := openKey(path)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	names, err := k.ReadValueNames(-1)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range names {
		if s, _, err := k.GetStringValue(n); err == nil {
			out[n] = s
		} else if i, _, err := k.GetIntegerValue(n); err == nil {
			out[n] = strconv.FormatUint(i, 10)
		}
	}
	return out, nil
}
