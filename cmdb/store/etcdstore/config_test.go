package etcdstore

import (
	"reflect"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    Config
		wantErr bool
	}{
		{in: "etcd://h1:2379", want: Config{Endpoints: []string{"h1:2379"}}},
		{in: "etcd://h1:2379,h2:2379/?prefix=/parc/&timeout=2s", want: Config{Endpoints: []string{"h1:2379", "h2:2379"}, Prefix: "/parc/", DialTimeout: 2 * time.Second}},
		{in: "etcd://h1:2379?ca=/c.pem&cert=/a.pem&key=/k.pem", want: Config{Endpoints: []string{"h1:2379"}, CAFile: "/c.pem", CertFile: "/a.pem", KeyFile: "/k.pem"}},
		{in: "etcd://h1:2379?cert=/a.pem", wantErr: true},
		{in: "etcd://h1:2379?bogus=1", wantErr: true},
		{in: "etcd://", wantErr: true},
		{in: "badger:/x", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseURL(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	cfg, err := ParseURL("etcds://h1:2379")
	if err != nil || cfg.TLS == nil {
		t.Errorf("etcds: %+v, %v; want TLS", cfg, err)
	}
}
