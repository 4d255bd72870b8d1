package gather

import (
	"context"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	parcv1 "parc/proto/parc/v1"
)

// TestRealSourceOnFixtureTree points the real Source at testdata/linux:
// the parts that read files (CPU, memory through gopsutil's HOST_PROC,
// disks from /sys/block and udev, NIC details from /sys/class/net).
func TestRealSourceOnFixtureTree(t *testing.T) {
	src := NewSource("testdata/linux").(*realSource)
	ctx := context.Background()

	cpu, err := src.CPU(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := &parcv1.CPU{Model: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", Vendor: "GenuineIntel", Sockets: 2, Cores: 3, Threads: 4, Mhz: 2000}
	if !proto.Equal(cpu, want) {
		t.Errorf("cpu = %v, want %v", cpu, want)
	}

	mem, err := src.Memory(ctx)
	if err != nil || mem.TotalBytes != 263921724*1024 {
		t.Errorf("memory = %v, %v", mem, err)
	}

	disks, err := src.Disks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := (&parcv1.Inventory{Disks: &parcv1.Disks{Items: disks}})
	Normalize(got)
	wantDisks := `items:{name:"nvme0n1" model:"Samsung SSD 980 PRO 1TB" serial:"S5GXNF0R123456K" size_bytes:1000204886016 type:"ssd" partitions:{name:"nvme0n1p1" size_bytes:512000000 fs_type:"vfat" mount_point:"/boot/efi"}} items:{name:"sda" model:"ST4000NM0035-1V4" serial:"ZC1A2B3C" vendor:"ATA" size_bytes:4000787030016 type:"hdd" rotational:true partitions:{name:"sda1" size_bytes:1048576} partitions:{name:"sda2" size_bytes:4000785104896 fs_type:"xfs" mount_point:"/srv"}}`
	var w parcv1.Disks
	if err := prototext.Unmarshal([]byte(wantDisks), &w); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.Disks, &w) {
		t.Errorf("disks =\n%v\nwant\n%v", got.Disks, &w)
	}

	eth := &parcv1.NIC{Name: "eth0"}
	src.nicDetails(eth)
	docker := &parcv1.NIC{Name: "docker0"}
	src.nicDetails(docker)
	if eth.SpeedMbps != 10000 || eth.Virtual || eth.Driver != "ixgbe" || docker.SpeedMbps != 0 || !docker.Virtual {
		t.Errorf("eth0 = %v, docker0 = %v", eth, docker)
	}
}

func TestParseCPUInfoWithoutTopology(t *testing.T) {
	c := parseCPUInfo("processor\t: 0\nProcessor\t: ARMv7 Processor rev 4 (v7l)\nCPU implementer\t: 0x41\n\nprocessor\t: 1\n")
	if c.Sockets != 1 || c.Cores != 2 || c.Threads != 2 || c.Model != "ARMv7 Processor rev 4 (v7l)" {
		t.Errorf("cpu = %v", c)
	}
}
