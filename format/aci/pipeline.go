package aci

import (
	"crypto/sha512"
	"hash"
	"io"
	"sync"
)

// pipeChunk is the size of the blocks handed between the stages of a
// checking pipeline: large enough that channel hand-offs cost nothing
// next to decompressing and hashing them.
const pipeChunk = 256 << 10

// hashPipeline decompresses on one goroutine and hashes on another while
// the caller reads (and parses) the same bytes, so gunzip, sha512 and the
// tar scan of an image run on separate cores. The hasher and the reader
// see every block in order; blocks are never written after being sent.
type hashPipeline struct {
	blocks chan []byte // to the reader
	hashed chan []byte // to the hasher
	cur    []byte
	err    error // the decompressor's error, set before blocks is closed
	h      hash.Hash
	hashWG sync.WaitGroup
	done   chan struct{} // closed when the decompressor returns
	stop   chan struct{}
	once   sync.Once
}

// newHashPipeline starts reading src (decompressed bytes) in the
// background.
func newHashPipeline(src io.Reader) *hashPipeline {
	const depth = 16
	p := &hashPipeline{
		blocks: make(chan []byte, depth),
		hashed: make(chan []byte, depth),
		h:      sha512.New(),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go func() { // decompressor
		defer close(p.done)
		defer close(p.blocks)
		defer close(p.hashed)
		for {
			buf := make([]byte, pipeChunk)
			n, err := io.ReadFull(src, buf)
			if n > 0 {
				b := buf[:n]
				for _, ch := range []chan []byte{p.hashed, p.blocks} {
					select {
					case ch <- b:
					case <-p.stop:
						return
					}
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return
			}
			if err != nil {
				p.err = err
				return
			}
		}
	}()
	p.hashWG.Add(1)
	go func() { // hasher
		defer p.hashWG.Done()
		for b := range p.hashed {
			p.h.Write(b)
		}
	}()
	return p
}

// Read returns the decompressed bytes in order.
func (p *hashPipeline) Read(out []byte) (int, error) {
	for len(p.cur) == 0 {
		b, ok := <-p.blocks
		if !ok {
			if p.err != nil {
				return 0, p.err
			}
			return 0, io.EOF
		}
		p.cur = b
	}
	n := copy(out, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// Sum drains the rest of the stream (the tar padding after the end marker
// counts into the image ID too) and returns the sha512 of every byte, or
// the decompressor's error.
func (p *hashPipeline) Sum() ([]byte, error) {
	if _, err := io.Copy(io.Discard, p); err != nil {
		p.Close()
		return nil, err
	}
	p.hashWG.Wait()
	return p.h.Sum(nil), nil
}

// Close stops the decompressor and waits until it no longer reads its
// source (which the caller may then close); the hasher ends with it.
func (p *hashPipeline) Close() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}
