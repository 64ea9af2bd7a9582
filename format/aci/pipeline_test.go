package aci

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestHashPipeline(t *testing.T) {
	data := make([]byte, 3*pipeChunk+12345)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	want := sha512.Sum512(data)
	tests := []struct {
		name string
		src  io.Reader
		read int // bytes the caller reads before Sum
	}{
		{"read nothing", bytes.NewReader(data), 0},
		{"read part", bytes.NewReader(data), pipeChunk + 7},
		{"one byte per read", iotest.OneByteReader(bytes.NewReader(data[:5000])), 100},
		{"empty", bytes.NewReader(nil), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newHashPipeline(tt.src)
			defer p.Close()
			got := make([]byte, tt.read)
			if _, err := io.ReadFull(p, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[:tt.read]) {
				t.Fatal("the reader saw other bytes than the source")
			}
			sum, err := p.Sum()
			if err != nil {
				t.Fatal(err)
			}
			exp := want[:]
			switch tt.name {
			case "one byte per read":
				s := sha512.Sum512(data[:5000])
				exp = s[:]
			case "empty":
				s := sha512.Sum512(nil)
				exp = s[:]
			}
			if !bytes.Equal(sum, exp) {
				t.Error("sha512 differs from the source's")
			}
		})
	}
}

func TestHashPipelineErrors(t *testing.T) {
	boom := errors.New("boom")
	p := newHashPipeline(io.MultiReader(bytes.NewReader(make([]byte, pipeChunk+1)), iotest.ErrReader(boom)))
	if _, err := p.Sum(); !errors.Is(err, boom) {
		t.Errorf("Sum error %v, want the source's", err)
	}
	// Closing early (a tar error) must not hang the decompressor.
	p = newHashPipeline(bytes.NewReader(make([]byte, 40*pipeChunk)))
	buf := make([]byte, 10)
	if _, err := p.Read(buf); err != nil {
		t.Fatal(err)
	}
	p.Close()
}
