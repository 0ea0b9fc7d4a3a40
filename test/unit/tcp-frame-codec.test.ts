import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/core/errors.js';
import { FrameOpener, FrameSealer, MAC_BYTES } from '../../src/transport/tcp/frame-auth.js';
import {
  FRAME_VERSION,
  FrameDecoder,
  FrameKind,
  HEADER_BYTES,
  readEntries,
  type RawFrame,
} from '../../src/transport/tcp/frame-codec.js';
import { entryTexts, sealEntries } from '../fixtures/tcp-entries.js';
import { thrown } from '../fixtures/thrown.js';

const key = randomBytes(32);

function messageFrame(sealer: FrameSealer, texts: string[]): Buffer {
  return sealEntries(sealer, texts);
}

function decodeAll(decoder: FrameDecoder, ...chunks: Buffer[]): RawFrame[] {
  const frames: RawFrame[] = [];
  for (const chunk of chunks) decoder.push(chunk, (frame) => frames.push(frame));
  return frames;
}

function texts(frame: RawFrame): string[] {
  return entryTexts(frame.body);
}


const newDecoder = (maxFrameBytes = 1 << 20): FrameDecoder => new FrameDecoder({ maxFrameBytes, macBytes: MAC_BYTES });

describe('TCP frame codec', () => {
  it('round-trips message frames with several messages, sequence numbers and MACs', () => {
    const sealer = new FrameSealer(key);
    const opener = new FrameOpener(key);
    const batches = [['{"a":1}'], ['"héllo ✓ 🚀"', '[]', '{}'], ['x'.repeat(70_000)]];
    const wire = Buffer.concat(batches.map((batch) => messageFrame(sealer, batch)));
    const frames = decodeAll(newDecoder(), wire);
    expect(frames.map((f) => f.seq)).toEqual([0, 1, 2]);
    for (const [i, frame] of frames.entries()) {
      expect(frame.kind).toBe(FrameKind.message);
      opener.open(frame);
      expect(texts(frame)).toEqual(batches[i]);
    }
  });

  it('reassembles frames split at every byte boundary', () => {
    const sealer = new FrameSealer(key);
    const wire = Buffer.concat([messageFrame(sealer, ['{"n":1}']), messageFrame(sealer, ['{"n":2}', '3'])]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const frames = decodeAll(newDecoder(), wire.subarray(0, cut), wire.subarray(cut));
      expect(frames.map((f) => f.bytes)).toEqual([wire.subarray(0, frames[0]!.bytes.length), wire.subarray(frames[0]!.bytes.length)]);
    }
    // One byte at a time.
    const decoder = newDecoder();
    const frames = decodeAll(decoder, ...[...wire].map((byte) => Buffer.of(byte)));
    expect(frames).toHaveLength(2);
    expect(decoder.buffered).toBe(0);
  });

  it('rejects an oversized length from the 4 length bytes alone, before buffering any body', () => {
    const decoder = newDecoder(1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffff_fff0, 0);
    const err = thrown(ProtocolError, () => decodeAll(decoder, header));
    expect(err.reason).toBe('oversized');
    expect(decoder.buffered).toBe(0);
    // The decoder stays failed.
    expect(thrown(ProtocolError, () => decodeAll(decoder, Buffer.alloc(10))).reason).toBe('oversized');
  });

  it('accepts a frame of exactly maxFrameBytes and rejects one byte more', () => {
    const sealer = new FrameSealer(key);
    const frame = messageFrame(sealer, ['x'.repeat(1000)]);
    expect(decodeAll(newDecoder(frame.length), frame)).toHaveLength(1);
    expect(thrown(ProtocolError, () => decodeAll(newDecoder(frame.length - 1), frame)).reason).toBe('oversized');
  });

  it('rejects an unknown version as soon as its byte arrives', () => {
    const frame = messageFrame(new FrameSealer(key), ['1']);
    frame[4] = FRAME_VERSION + 1;
    const decoder = newDecoder();
    expect(thrown(ProtocolError, () => decodeAll(decoder, frame.subarray(0, 5))).reason).toBe('version');
  });

  it('rejects frames too short for a header and MAC, unknown kinds and sequence numbers beyond 2^53', () => {
    const short = Buffer.alloc(4 + 9);
    short.writeUInt32BE(9, 0);
    short[4] = FRAME_VERSION;
    expect(thrown(ProtocolError, () => decodeAll(newDecoder(), short)).reason).toBe('malformed');

    const kind = messageFrame(new FrameSealer(key), ['1']);
    kind[5] = 9;
    expect(thrown(ProtocolError, () => decodeAll(newDecoder(), kind)).reason).toBe('malformed');

    const seq = messageFrame(new FrameSealer(key), ['1']);
    seq.writeUInt32BE(0x20_0000, 6);
    expect(thrown(ProtocolError, () => decodeAll(newDecoder(), seq)).reason).toBe('malformed');
  });

  it('delivers the frames before a bad one, then fails', () => {
    const sealer = new FrameSealer(key);
    const bad = Buffer.from('GET / HTTP/1.1\r\n\r\n');
    const frames: RawFrame[] = [];
    const decoder = newDecoder();
    const err = thrown(ProtocolError, () => decoder.push(Buffer.concat([messageFrame(sealer, ['1']), bad]), (f) => frames.push(f)));
    expect(frames).toHaveLength(1);
    expect(err.reason).toBe('oversized');
  });

  it('rejects a frame whose MAC, body or header was altered, or sealed under another key', () => {
    const original = messageFrame(new FrameSealer(key), ['{"pay":100}']);
    for (const position of [0, 4, 5, 6, 13, HEADER_BYTES, original.length - MAC_BYTES - 1, original.length - 1]) {
      const altered = Buffer.from(original);
      altered[position]! ^= 0x01;
      const opened = (): void => {
        for (const frame of decodeAll(newDecoder(), altered)) new FrameOpener(key).open(frame);
      };
      expect(['bad-mac', 'oversized', 'malformed', 'version']).toContain(thrown(ProtocolError, opened).reason);
    }
    const [frame] = decodeAll(newDecoder(), original);
    expect(thrown(ProtocolError, () => new FrameOpener(randomBytes(32)).open(frame!)).reason).toBe('bad-mac');
  });

  it('rejects a replayed frame and a skipped sequence number', () => {
    const sealer = new FrameSealer(key);
    const first = messageFrame(sealer, ['1']);
    const second = messageFrame(sealer, ['2']);
    const third = messageFrame(sealer, ['3']);
    const opener = new FrameOpener(key);
    const [f1, f1again, f2] = decodeAll(newDecoder(), first, first, second);
    opener.open(f1!);
    expect(thrown(ProtocolError, () => opener.open(f1again!)).reason).toBe('replay');
    opener.open(f2!);

    const skipping = new FrameOpener(key);
    const [g1, , g3] = decodeAll(newDecoder(), first, second, third);
    skipping.open(g1!);
    expect(thrown(ProtocolError, () => skipping.open(g3!)).reason).toBe('sequence');
  });

  it('frames without MAC (mutual TLS) still check sequence numbers', () => {
    const sealer = new FrameSealer(undefined);
    const frame = sealer.sealBytes(FrameKind.finish, Buffer.alloc(0));
    expect(frame.length).toBe(HEADER_BYTES);
    const decoder = new FrameDecoder({ maxFrameBytes: 1024, macBytes: 0 });
    const opener = new FrameOpener(undefined);
    const [a, b] = decodeAll(decoder, frame, frame);
    opener.open(a!);
    expect(thrown(ProtocolError, () => opener.open(b!)).reason).toBe('replay');
  });

  it('rejects message bodies whose entries do not fill them exactly', () => {
    const entry = (length: number, text: string): Buffer => {
      const b = Buffer.alloc(4 + Buffer.byteLength(text));
      b.writeUInt32BE(length, 0);
      b.write(text, 4);
      return b;
    };
    expect(thrown(ProtocolError, () => readEntries(Buffer.alloc(0), () => true)).reason).toBe('malformed');
    expect(thrown(ProtocolError, () => readEntries(entry(5, 'abc'), () => true)).reason).toBe('malformed');
    expect(thrown(ProtocolError, () => readEntries(Buffer.concat([entry(3, 'abc'), Buffer.of(0, 0)]), () => true)).reason).toBe(
      'malformed',
    );
    expect(entryTexts(Buffer.concat([entry(3, 'abc'), entry(0, '')]))).toEqual(['abc', '']);
  });
});
