package sim

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The simulator's side of the agent port: gRPC's wire protocol (HTTP/2
// frames, a length-prefixed message, the status in trailers) written and
// read directly on each agent's connection. The collector sees what
// grpc-go's client sends; the simulator spends a fraction of that client's
// CPU on it (no stream set-up, no writer and reader goroutines handing
// each call over). It shares the machine's cores with the collector it
// measures, so every microsecond it saves per report is the collector's.
//
// A connection carries one call at a time, as one agent's does, and
// answers the collector's pings and settings while a call is in flight.
// A connection the collector closed in between (idle too long, GOAWAY) is
// dialled again and the report sent again: a replayed report changes
// nothing.

// Dialer opens a connection to addr (tests: a bufconn listener).
type Dialer func(ctx context.Context, addr string) (net.Conn, error)

// submitPath is the method every report goes to.
const submitPath = "/parc.v1.AgentService/Submit"

// callTimeout bounds one call; grpc-timeout tells the collector.
const callTimeout = time.Minute

// Flow control: the window the simulator gives the collector's responses
// (acknowledgements of a few dozen bytes) on every stream and on the
// connection. It is refilled when half is used.
const recvWindow = 1 << 20

// wireConn is one agent connection.
type wireConn struct {
	addr string
	dial Dialer

	mu      sync.Mutex // one call at a time
	c       net.Conn
	fr      *http2.Framer
	out     *frameBuf
	enc     *hpack.Encoder // the connection's request header compression
	hbuf    frameBuf       // a call's header block
	next    uint32         // next stream id
	sendWin int64          // connection send window
	initWin int64          // the collector's initial stream window
	callWin int64          // the send window of the call in flight
	maxData int            // the collector's largest frame
	unacked int            // bytes received since the last connection window update
	failed  error          // the connection is unusable; dial again
	goaway  bool           // the collector takes no new call on it
}

// frameBuf collects a call's frames so that they go out in one write.
type frameBuf struct{ b []byte }

func (f *frameBuf) Write(p []byte) (int, error) {
	f.b = append(f.b, p...)
	return len(p), nil
}

// writeBufs hold the frames of the calls being written; a buffer grown by
// a full report goes back for the next.
var writeBufs = sync.Pool{New: func() any { return new([]byte) }}

func dialWire(ctx context.Context, addr string, dial Dialer) (*wireConn, error) {
	w := &wireConn{addr: addr, dial: dial, out: &frameBuf{}}
	if err := w.connect(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// connect dials and exchanges settings (w.mu held, or w not shared yet).
func (w *wireConn) connect(ctx context.Context) error {
	dial := w.dial
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	c, err := dial(ctx, w.addr)
	if err != nil {
		return err
	}
	fr := http2.NewFramer(w.out, bufio.NewReaderSize(c, 4<<10))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 64 << 10
	fr.SetReuseFrames()
	w.c, w.fr, w.failed, w.goaway = c, fr, nil, false
	w.next, w.sendWin, w.initWin, w.maxData, w.unacked = 1, 65535, 65535, 16384, 0
	w.enc = hpack.NewEncoder(&w.hbuf)
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(30 * time.Second))
	}
	w.begin()
	w.out.b = append(w.out.b, http2.ClientPreface...)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: recvWindow},
		http2.Setting{ID: http2.SettingEnablePush, Val: 0})
	fr.WriteWindowUpdate(0, recvWindow-65535)
	if err := w.flush(); err != nil {
		return w.fail(err)
	}
	// The collector's settings come first; its acknowledgement of ours and
	// its window update may follow later, and are read with the next call.
	f, err := fr.ReadFrame()
	if err != nil {
		return w.fail(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		return w.fail(fmt.Errorf("collector's first frame is %v, not its settings", f.Header().Type))
	}
	if err := w.frame(f, 0); err != nil {
		return w.fail(err)
	}
	if err := w.flush(); err != nil {
		return w.fail(err)
	}
	return nil
}

// headers encodes a call's request headers as grpc-go's client does, in
// the connection's header compression state: after the first call the
// constant ones are references to the collector's table, and the call's
// remaining time (grpc-timeout, in microseconds) is new each time.
func (w *wireConn) headers(deadline time.Time) []byte {
	w.hbuf.b = w.hbuf.b[:0]
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", submitPath}, {":authority", w.addr},
		{"content-type", "application/grpc"}, {"user-agent", "parc-sim"}, {"te", "trailers"},
		{"grpc-timeout", strconv.FormatInt(max(1, time.Until(deadline).Microseconds()), 10) + "u"}} {
		w.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return w.hbuf.b
}

// begin points the frame buffer at a pooled buffer.
func (w *wireConn) begin() {
	w.out.b = (*writeBufs.Get().(*[]byte))[:0]
}

// flush writes the collected frames and returns the buffer to the pool.
func (w *wireConn) flush() error {
	b := w.out.b
	w.out.b = nil
	var err error
	if len(b) > 0 {
		_, err = w.c.Write(b)
	}
	if cap(b) <= 1<<20 {
		writeBufs.Put(&b)
	}
	return err
}

// fail marks the connection unusable and closes it.
func (w *wireConn) fail(err error) error {
	if w.failed == nil {
		w.failed = err
		w.c.Close()
	}
	return err
}

// Submit sends one encoded report and returns the collector's encoded
// acknowledgement. When the connection fails (mostly: the collector closed
// it while it was idle), the report goes once more on a new one.
func (w *wireConn) Submit(ctx context.Context, msg []byte) ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if w.failed != nil {
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := w.connect(dctx)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("dial %s again: %w", w.addr, err)
			}
		}
		ack, err := w.call(ctx, msg)
		if err == nil || w.failed == nil || attempt > 0 || ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return ack, err
		}
	}
}

// Close closes the connection.
func (w *wireConn) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return nil
	}
	w.failed = net.ErrClosed
	return w.c.Close()
}

// bodyBufs hold a call's message behind its gRPC prefix.
var bodyBufs = sync.Pool{New: func() any { return new([]byte) }}

// call runs one call on the connection (w.mu held).
func (w *wireConn) call(ctx context.Context, msg []byte) ([]byte, error) {
	if w.goaway || w.next >= 1<<31-1 {
		return nil, w.fail(errors.New("connection closing: a new one is needed"))
	}
	dl := time.Now().Add(callTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	w.c.SetDeadline(dl)
	id := w.next
	w.next += 2
	w.callWin = w.initWin

	bp := bodyBufs.Get().(*[]byte)
	body := binary.BigEndian.AppendUint32(append((*bp)[:0], 0), uint32(len(msg))) // uncompressed, length
	body = append(body, msg...)
	defer func() {
		if cap(body) <= 1<<20 {
			*bp = body
			bodyBufs.Put(bp)
		}
	}()
	w.begin()
	if err := w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: w.headers(dl), EndHeaders: true}); err != nil {
		return nil, w.fail(err)
	}
	// The message in DATA frames within the collector's windows and frame
	// size. Out of window, what is collected goes out and the collector's
	// window updates are awaited.
	for off := 0; off < len(body); {
		if win := min(w.sendWin, w.callWin); win > 0 {
			n := min(len(body)-off, w.maxData, int(win))
			if err := w.fr.WriteData(id, off+n == len(body), body[off:off+n]); err != nil {
				return nil, w.fail(err)
			}
			off += n
			w.sendWin -= int64(n)
			w.callWin -= int64(n)
			continue
		}
		if err := w.flush(); err != nil {
			return nil, w.fail(err)
		}
		w.begin()
		f, err := w.fr.ReadFrame()
		if err != nil {
			return nil, w.fail(err)
		}
		switch f := f.(type) {
		case *http2.WindowUpdateFrame:
			if f.StreamID == id {
				w.callWin += int64(f.Increment)
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				w.flush()
				return nil, status.Errorf(codes.Unavailable, "collector reset the call: %v", f.ErrCode)
			}
		}
		if err := w.frame(f, id); err != nil {
			return nil, err
		}
	}
	if err := w.flush(); err != nil {
		return nil, w.fail(err)
	}
	// The response: headers, the acknowledgement, trailers with the status
	// (headers alone, with the status, when the call failed).
	var resp []byte
	headers := false
	for {
		w.begin()
		f, err := w.fr.ReadFrame()
		if err != nil {
			w.flush()
			return nil, w.fail(err)
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				break
			}
			if !headers {
				headers = true
				if s := f.PseudoValue("status"); s != "200" {
					w.flush()
					return nil, status.Errorf(codes.Unknown, "collector answered HTTP status %s", s)
				}
			}
			if f.StreamEnded() {
				if err := w.flush(); err != nil {
					return nil, w.fail(err)
				}
				return grpcResult(f, resp)
			}
		case *http2.DataFrame:
			w.consumed(f)
			if f.StreamID != id {
				break // what is left of a call that ended early
			}
			if len(resp)+len(f.Data()) > recvWindow/2 {
				w.flush()
				return nil, w.fail(fmt.Errorf("acknowledgement of over %d bytes", recvWindow/2))
			}
			resp = append(resp, f.Data()...)
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				w.flush()
				return nil, status.Errorf(codes.Unavailable, "collector reset the call: %v", f.ErrCode)
			}
		default:
			if err := w.frame(f, id); err != nil {
				w.flush()
				return nil, err
			}
		}
		if err := w.flush(); err != nil {
			return nil, w.fail(err)
		}
	}
}

// consumed counts a DATA frame against the connection's receive window,
// and gives the collector the window back when half is used.
func (w *wireConn) consumed(f *http2.DataFrame) {
	if w.unacked += int(f.Length); w.unacked >= recvWindow/2 {
		w.fr.WriteWindowUpdate(0, uint32(w.unacked))
		w.unacked = 0
	}
}

// frame handles a connection frame: settings, pings, window updates and
// GOAWAY (for a call on stream id, if any), and data left of an earlier
// call. Its answers are collected in w.out.
func (w *wireConn) frame(f http2.Frame, id uint32) error {
	switch f := f.(type) {
	case *http2.DataFrame:
		w.consumed(f)
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		err := f.ForeachSetting(func(s http2.Setting) error {
			switch s.ID {
			case http2.SettingInitialWindowSize:
				// A change applies to the stream in flight too.
				w.callWin += int64(s.Val) - w.initWin
				w.initWin = int64(s.Val)
			case http2.SettingMaxFrameSize:
				w.maxData = int(s.Val)
			}
			return nil
		})
		if err != nil {
			return w.fail(err)
		}
		return w.fr.WriteSettingsAck()
	case *http2.PingFrame:
		if !f.IsAck() {
			return w.fr.WritePing(true, f.Data)
		}
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			w.sendWin += int64(f.Increment)
		}
	case *http2.GoAwayFrame:
		if id == 0 || f.LastStreamID < id {
			return w.fail(fmt.Errorf("collector closed the connection (GOAWAY %v)", f.ErrCode))
		}
		// The call in flight is still answered; no other on this
		// connection.
		w.goaway = true
	}
	return nil
}

// grpcResult reads the status from a call's trailers and the message from
// its data.
func grpcResult(f *http2.MetaHeadersFrame, data []byte) ([]byte, error) {
	code, msg := "", ""
	for _, hf := range f.RegularFields() {
		switch hf.Name {
		case "grpc-status":
			code = hf.Value
		case "grpc-message":
			msg, _ = url.PathUnescape(hf.Value)
		}
	}
	c, err := strconv.ParseUint(code, 10, 32)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "collector's answer has no grpc-status (%q)", code)
	}
	if c != 0 {
		return nil, status.Error(codes.Code(c), msg)
	}
	if len(data) < 5 || data[0] != 0 || int(binary.BigEndian.Uint32(data[1:])) != len(data)-5 {
		return nil, status.Errorf(codes.Internal, "collector's answer is not one uncompressed message (%d bytes)", len(data))
	}
	return data[5:], nil
}
