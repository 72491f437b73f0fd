import { describe, expect, it } from 'vitest';
import { FrameReader, frame } from '../../dns/tcp-framing.ts';

describe('FrameReader', () => {
  it('reassembles messages split byte by byte and splits several in one chunk', () => {
    const msgs = [Buffer.from('hello'), Buffer.from(''), Buffer.from('world!')];
    const wire = Buffer.concat(msgs.map(frame));
    const r = new FrameReader();
    const out: Buffer[] = [];
    for (const byte of wire) {
      const got = r.push(Buffer.from([byte]));
      if (got === 'oversized') throw new Error('oversized');
      out.push(...got);
    }
    expect(out.map(String)).toEqual(['hello', '', 'world!']);
    expect(new FrameReader().push(wire)).toHaveLength(3);
    expect(r.buffered).toBe(0);
  });

  it('rejects a length over the maximum', () => {
    expect(new FrameReader(100).push(Buffer.from([0x01, 0x00]))).toBe('oversized');
  });
});
