package mail

import (
	"net"
	"testing"
)

func TestOnlyLoopbackRelaysMayBePlain(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 25}, true},
		{&net.TCPAddr{IP: net.ParseIP("127.8.9.10"), Port: 25}, true},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 25}, true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 25}, true},
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 25}, false},
		{&net.TCPAddr{IP: net.ParseIP("192.168.1.20"), Port: 587}, false},
		{&net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 587}, false},
		{&net.TCPAddr{IP: net.ParseIP("0.0.0.0"), Port: 25}, false},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 25}, false},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.5"), Port: 25}, false},
		{&net.TCPAddr{}, false},
		{&net.UnixAddr{Name: "/tmp/x", Net: "unix"}, false},
		{nil, false},
		{(*net.TCPAddr)(nil), false},
	} {
		if got := isLoopbackRelay(c.addr); got != c.want {
			t.Errorf("isLoopbackRelay(%v) = %v, want %v", c.addr, got, c.want)
		}
	}
}
