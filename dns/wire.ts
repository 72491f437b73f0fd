/**
 * The DNS wire format, as much of it as the responder needs: parse a query's header, question and
 * EDNS OPT; walk an upstream response to find its TTL fields and negative-caching TTL; write
 * answers directly into buffers.
 *
 * Why not dns2's `Packet` here: its reader decodes bit by bit through arrays (a few µs per field),
 * it swallows section errors and keeps going, and it does not report where TTLs sit in the
 * buffer, which the cache needs to decrement them in place. dns2 stays the reference codec in the
 * tests (every byte we write is parsed back with it).
 */

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
export const CLASS_IN = 1;
export const CLASS_ANY = 255;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const FLAG_CD = 0x0010;

export const HEADER_BYTES = 12;
/** RFC 1035 §4.2.1: without EDNS a UDP message is at most 512 bytes. */
export const CLASSIC_UDP_BYTES = 512;
/** What we advertise in our own OPT records (the DNS Flag Day 2020 value). */
export const OUR_EDNS_BYTES = 1232;

export interface Query {
  id: number;
  flags: number;
  /** Lower-case (ASCII only, RFC 4343), dot-separated, no trailing dot; '' is the root. */
  name: string;
  /** False when a label holds a '.' or a non-ASCII byte: such a name is never answered locally. */
  plainName: boolean;
  qtype: number;
  qclass: number;
  /** Offset just after the question; [12, questionEnd) are the question's bytes as the client sent them. */
  questionEnd: number;
  /** The question name used a compression pointer (legal but rare in queries). */
  compressed: boolean;
  /** The query carried an OPT record (RFC 6891). */
  edns: boolean;
  ednsVersion: number;
  /** Largest UDP reply the client accepts: max(512, its OPT payload size). */
  udpLimit: number;
  dnssecOk: boolean;
}

/** Why a packet could not be taken as a query. `drop`: too short to answer or itself a response. */
export type QueryProblem = 'drop' | 'formerr' | 'notimp';

const scratch = Buffer.allocUnsafe(256);

/**
 * Reads the name at `offset` into the shared scratch buffer, lower-cased, labels joined by dots.
 * Returns the offset after the name in the message (not after pointer targets), or -1 if the name is
 * malformed: out of bounds, a label over 63 bytes, a name over 255 bytes, a reserved label type, or a
 * pointer that does not point strictly backwards (which also rules out loops, RFC 1035 §4.1.4).
 */
function readName(buf: Buffer, offset: number, out: { len: number; plain: boolean; compressed: boolean }): number {
  let pos = offset;
  let end = -1;
  let len = 0;
  let wire = 1;
  let plain = true;
  let limit = offset;
  for (;;) {
    if (pos >= buf.length) return -1;
    const b = buf[pos];
    if (b === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = b & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) return -1;
      const target = ((b & 0x3f) << 8) | buf[pos + 1];
      if (end < 0) end = pos + 2;
      if (target >= limit) return -1;
      limit = target;
      pos = target;
      out.compressed = true;
      continue;
    }
    if (kind !== 0) return -1;
    wire += b + 1;
    if (wire > 255 || pos + 1 + b > buf.length) return -1;
    if (len > 0) scratch[len++] = 0x2e;
    for (let i = pos + 1; i <= pos + b; i++) {
      let c = buf[i];
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      else if (c === 0x2e || c >= 0x80) plain = false;
      scratch[len++] = c;
    }
    pos += b + 1;
  }
  out.len = len;
  out.plain = plain;
  return end;
}

/** Offset after the (possibly compressed) name at `offset`, or -1 when it runs off the buffer. */
export function skipName(buf: Buffer, offset: number): number {
  let pos = offset;
  for (let hops = 0; hops < 128; hops++) {
    if (pos >= buf.length) return -1;
    const b = buf[pos];
    if (b === 0) return pos + 1;
    if ((b & 0xc0) === 0xc0) return pos + 2 <= buf.length ? pos + 2 : -1;
    if ((b & 0xc0) !== 0) return -1;
    pos += b + 1;
  }
  return -1;
}

const nameOut = { len: 0, plain: true, compressed: false };

/** Decodes the name at `offset` (lower-cased); undefined when malformed. */
export function decodeName(buf: Buffer, offset: number): { name: string; end: number } | undefined {
  nameOut.compressed = false;
  const end = readName(buf, offset, nameOut);
  return end < 0 ? undefined : { name: scratch.toString('latin1', 0, nameOut.len), end };
}

/** Parses a client's message as a standard query, or says why it cannot be one. */
export function parseQuery(buf: Buffer): Query | QueryProblem {
  if (buf.length < HEADER_BYTES) return 'drop';
  const flags = buf.readUInt16BE(2);
  if (flags & FLAG_QR) return 'drop';
  if (((flags >> 11) & 0xf) !== 0) return 'notimp';
  // RFC 9619: a query carries exactly one question; answer and authority sections are empty.
  if (buf.readUInt16BE(4) !== 1 || buf.readUInt16BE(6) !== 0 || buf.readUInt16BE(8) !== 0) return 'formerr';
  nameOut.compressed = false;
  const nameEnd = readName(buf, HEADER_BYTES, nameOut);
  if (nameEnd < 0 || nameEnd + 4 > buf.length) return 'formerr';
  const query: Query = {
    id: buf.readUInt16BE(0),
    flags,
    name: scratch.toString('latin1', 0, nameOut.len),
    plainName: nameOut.plain,
    qtype: buf.readUInt16BE(nameEnd),
    qclass: buf.readUInt16BE(nameEnd + 2),
    questionEnd: nameEnd + 4,
    compressed: nameOut.compressed,
    edns: false,
    ednsVersion: 0,
    udpLimit: CLASSIC_UDP_BYTES,
    dnssecOk: false,
  };
  let pos = query.questionEnd;
  for (let n = buf.readUInt16BE(10); n > 0; n--) {
    const at = skipName(buf, pos);
    if (at < 0 || at + 10 > buf.length) return 'formerr';
    const type = buf.readUInt16BE(at);
    const rdlen = buf.readUInt16BE(at + 8);
    if (at + 10 + rdlen > buf.length) return 'formerr';
    if (type === TYPE.OPT) {
      // RFC 6891 §6.1.1: more than one OPT is a format error.
      if (query.edns) return 'formerr';
      query.edns = true;
      query.udpLimit = Math.max(CLASSIC_UDP_BYTES, buf.readUInt16BE(at + 2));
      query.ednsVersion = buf[at + 5];
      query.dnssecOk = (buf[at + 6] & 0x80) !== 0;
    }
    pos = at + 10 + rdlen;
  }
  return query;
}

/**
 * The bytes of an OPT record of ours (replies to EDNS queries, EDNS queries upstream): our payload
 * size, version 0, no options, DO copied from the query (RFC 3225 §3); `extRcode` is the upper 8
 * bits of a 12-bit RCODE.
 */
export function writeOpt(out: Buffer, at: number, dnssecOk = false, extRcode = 0): number {
  out[at] = 0;
  out.writeUInt16BE(TYPE.OPT, at + 1);
  out.writeUInt16BE(OUR_EDNS_BYTES, at + 3);
  out[at + 5] = extRcode;
  out[at + 6] = 0;
  out.writeUInt16BE(dnssecOk ? 0x8000 : 0, at + 7);
  out.writeUInt16BE(0, at + 9);
  return at + 11;
}
export const OPT_BYTES = 11;

/**
 * What goes upstream for a client's query: its header and question, plus an OPT of ours when the
 * client sent one. The client's own EDNS options (a COOKIE is between it and us, RFC 7873 §5.1),
 * its payload size and any other additional record stay here, so the answer, which coalesced
 * clients share and the cache keeps, does not depend on which client asked first.
 */
export function upstreamQuery(packet: Buffer, q: Query): Buffer {
  const out = Buffer.allocUnsafe(q.questionEnd + (q.edns ? OPT_BYTES : 0));
  packet.copy(out, 0, 0, q.questionEnd);
  out.writeUInt16BE(q.edns ? 1 : 0, 10);
  if (q.edns) writeOpt(out, q.questionEnd, q.dnssecOk);
  return out;
}

/** Encodes a dotted name without compression (for names we synthesise: SOA owners, PTR targets). */
export function encodeName(name: string): Buffer {
  const labels = name === '' ? [] : name.split('.');
  const out = Buffer.allocUnsafe(labels.reduce((n, l) => n + l.length + 1, 1));
  let at = 0;
  for (const l of labels) {
    out[at++] = l.length;
    at += out.write(l, at, 'latin1');
  }
  out[at] = 0;
  return out;
}

/** What the forwarder and cache need to know about an upstream response. */
export interface ResponseInfo {
  id: number;
  flags: number;
  rcode: number;
  truncated: boolean;
  name: string;
  qtype: number;
  qclass: number;
  questionEnd: number;
  answers: number;
  /** Offsets of every TTL field except OPT's (whose "TTL" holds EDNS flags, RFC 6891 §6.1.3). */
  ttlOffsets: number[];
  /** Smallest TTL in the answer section; -1 without answers. A TTL with the top bit set counts as 0 (RFC 2181 §8). */
  minAnswerTtl: number;
  /** RFC 2308 §5: min(SOA TTL, SOA MINIMUM) of the first SOA in the authority section; -1 without one. */
  negativeTtl: number;
  /** Offset of that SOA's TTL field; -1 without one. */
  negativeTtlAt: number;
  /** Where the additional section starts. */
  additionalAt: number;
  /** The OPT record's first and past-the-end offsets; -1 without one. */
  optAt: number;
  optEnd: number;
  /** The upper 8 bits of a 12-bit RCODE, from the OPT record (RFC 6891 §6.1.3); 0 without one. */
  extRcode: number;
}

/** Walks a whole response; undefined when any part of it is malformed. */
export function scanResponse(buf: Buffer): ResponseInfo | undefined {
  if (buf.length < HEADER_BYTES) return undefined;
  const flags = buf.readUInt16BE(2);
  if (!(flags & FLAG_QR) || buf.readUInt16BE(4) !== 1) return undefined;
  const q = decodeName(buf, HEADER_BYTES);
  if (!q || q.end + 4 > buf.length) return undefined;
  const info: ResponseInfo = {
    id: buf.readUInt16BE(0),
    flags,
    rcode: flags & 0xf,
    truncated: (flags & FLAG_TC) !== 0,
    name: q.name,
    qtype: buf.readUInt16BE(q.end),
    qclass: buf.readUInt16BE(q.end + 2),
    questionEnd: q.end + 4,
    answers: buf.readUInt16BE(6),
    ttlOffsets: [],
    minAnswerTtl: -1,
    negativeTtl: -1,
    negativeTtlAt: -1,
    additionalAt: -1,
    optAt: -1,
    optEnd: -1,
    extRcode: 0,
  };
  const counts = [info.answers, buf.readUInt16BE(8), buf.readUInt16BE(10)];
  let pos = info.questionEnd;
  for (let section = 0; section < 3; section++) {
    if (section === 2) info.additionalAt = pos;
    for (let n = counts[section]; n > 0; n--) {
      const start = pos;
      const at = skipName(buf, pos);
      if (at < 0 || at + 10 > buf.length) return undefined;
      const type = buf.readUInt16BE(at);
      const ttl = ttlValue(buf.readUInt32BE(at + 4));
      const rdlen = buf.readUInt16BE(at + 8);
      const rdata = at + 10;
      if (rdata + rdlen > buf.length) return undefined;
      if (type !== TYPE.OPT) info.ttlOffsets.push(at + 4);
      else if (section === 2 && info.optAt < 0) {
        info.optAt = start;
        info.optEnd = rdata + rdlen;
        info.extRcode = buf[at + 4];
      }
      if (section === 0 && (info.minAnswerTtl < 0 || ttl < info.minAnswerTtl)) info.minAnswerTtl = ttl;
      if (section === 1 && type === TYPE.SOA && info.negativeTtl < 0) {
        const m = skipName(buf, rdata);
        const r = m < 0 ? -1 : skipName(buf, m);
        if (r < 0 || r + 20 > rdata + rdlen) return undefined;
        info.negativeTtl = Math.min(ttl, buf.readUInt32BE(r + 16));
        info.negativeTtlAt = at + 4;
      }
      pos = rdata + rdlen;
    }
  }
  return info;
}

/** RFC 2181 §8: a TTL received with the most significant bit set is taken as 0. */
export function ttlValue(raw: number): number {
  return raw > 0x7fffffff ? 0 : raw;
}

/** NXDOMAIN, or NOERROR without answers (NODATA): answers RFC 2308 negative caching applies to. */
export function isNegative(info: ResponseInfo): boolean {
  return info.rcode === RCODE.NXDOMAIN || (info.rcode === RCODE.NOERROR && info.answers === 0);
}

/**
 * An upstream answer as clients share it and the cache keeps it:
 * - without the upstream's OPT record: its payload size, flags and options (a COOKIE for the
 *   client that asked first) belong to that one exchange, and a client that sent no OPT must get
 *   none (RFC 6891 §7); each client gets an OPT of its own on the way out. When records follow
 *   the OPT, the whole additional section goes (it is optional, RFC 2181 §9), since cutting a
 *   record out of the middle would break compression pointers behind it;
 * - TTLs with the top bit set written as 0 (RFC 2181 §8);
 * - for a negative answer, the SOA's TTL lowered to min(TTL, MINIMUM), the time it may be cached
 *   (RFC 2308 §5), so that it counts down from there.
 * `extRcode` keeps the upstream OPT's upper RCODE bits. Undefined if the result does not scan.
 */
export function normaliseResponse(bytes: Buffer, info: ResponseInfo): { bytes: Buffer; info: ResponseInfo } | undefined {
  let out = bytes;
  if (info.optAt >= 0) {
    const lastRecord = info.optEnd === bytes.length;
    out = Buffer.from(bytes.subarray(0, lastRecord ? info.optAt : info.additionalAt));
    out.writeUInt16BE(lastRecord ? bytes.readUInt16BE(10) - 1 : 0, 10);
  }
  for (const at of info.ttlOffsets) if (at < out.length && out.readUInt32BE(at) > 0x7fffffff) out.writeUInt32BE(0, at);
  if (isNegative(info) && info.negativeTtlAt >= 0 && info.negativeTtlAt < out.length) out.writeUInt32BE(info.negativeTtl, info.negativeTtlAt);
  if (out === bytes) return { bytes, info };
  const scanned = scanResponse(out);
  return scanned && { bytes: out, info: { ...scanned, extRcode: info.extRcode } };
}

/** A header-only (or header + question) error reply to `query`'s bytes. */
export function errorReply(request: Buffer, rcode: number, query?: Query): Buffer {
  const qEnd = query && !query.compressed ? query.questionEnd : HEADER_BYTES;
  const withOpt = query?.edns === true;
  const out = Buffer.allocUnsafe(qEnd + (withOpt ? OPT_BYTES : 0));
  request.copy(out, 0, 0, qEnd);
  const reqFlags = request.readUInt16BE(2);
  // Keep the opcode and RD of the request (RFC 1035 §4.1.1), set QR and RA, and the rcode.
  out.writeUInt16BE(FLAG_QR | (reqFlags & 0x7900) | FLAG_RA | rcode, 2);
  out.writeUInt16BE(qEnd > HEADER_BYTES ? 1 : 0, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(withOpt ? 1 : 0, 10);
  if (withOpt) writeOpt(out, qEnd, query?.dnssecOk);
  return out;
}

/** The reply a UDP client gets when the full answer is larger than it accepts: header + question, TC set. */
export function truncatedReply(response: Buffer, questionEnd: number, query: Query): Buffer {
  const withOpt = query.edns;
  const out = Buffer.allocUnsafe(questionEnd + (withOpt ? OPT_BYTES : 0));
  response.copy(out, 0, 0, questionEnd);
  out.writeUInt16BE(response.readUInt16BE(2) | FLAG_TC, 2);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(withOpt ? 1 : 0, 10);
  if (withOpt) writeOpt(out, questionEnd, query.dnssecOk);
  return out;
}
