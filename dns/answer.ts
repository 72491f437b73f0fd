/**
 * The pure core: given a client's packet and the current RecordTable, decide what to do with it.
 * No sockets, no clock, no metrics: the server shell sends, forwards and counts.
 */
import type { RecordTable, MeshEntry } from './record-table.ts';
import { provablyAbsent } from './search-list.ts';
import {
  CLASS_ANY, CLASS_IN, FLAG_AA, FLAG_CD, FLAG_QR, FLAG_RA, FLAG_RD, HEADER_BYTES, OPT_BYTES, RCODE, TYPE,
  errorReply, parseQuery, writeOpt, type Query,
} from './wire.ts';

/** Outcome labels, as in `sidemesh_dns_queries_total{result}` (see docs/dns.md). */
export type Result = 'local' | 'forwarded' | 'cache_hit' | 'nxdomain' | 'servfail' | 'formerr' | 'refused' | 'nodata';

export type Decision =
  /** Send `bytes` back. `query` is absent when the packet was not a readable query. */
  | { kind: 'reply'; bytes: Buffer; result: Result; query: Query | undefined }
  /** Not ours: resolve upstream (or from the cache). */
  | { kind: 'forward'; query: Query }
  /** Say nothing (too short to carry an ID, or a response: answering responses invites loops). */
  | { kind: 'drop'; result: Result };

/** Decides what to do with one packet from a client. `trusted`: the source may use us (loopback). */
export function decide(packet: Buffer, table: RecordTable, trusted: boolean): Decision {
  const query = parseQuery(packet);
  if (query === 'drop') return { kind: 'drop', result: 'formerr' };
  if (query === 'formerr') return { kind: 'reply', bytes: errorReply(packet, RCODE.FORMERR), result: 'formerr', query: undefined };
  if (query === 'notimp') return { kind: 'reply', bytes: errorReply(packet, RCODE.NOTIMP), result: 'formerr', query: undefined };
  // No open resolver: anything not from loopback is refused (docs/dns.md, "Who may ask").
  if (!trusted) return { kind: 'reply', bytes: errorReply(packet, RCODE.REFUSED, query), result: 'refused', query };
  if (query.edns && query.ednsVersion !== 0) {
    // RFC 6891 §6.1.3: BADVERS (16) is carried as extended RCODE 1 with header RCODE 0.
    const bytes = errorReply(packet, RCODE.NOERROR, query);
    bytes[bytes.length - OPT_BYTES + 5] = 1;
    return { kind: 'reply', bytes, result: 'formerr', query };
  }
  const local = answerLocally(packet, query, table);
  return local ?? { kind: 'forward', query };
}

/** The answer for a mesh name, a VIP's reverse name or a provable search-list miss; undefined otherwise. */
export function answerLocally(packet: Buffer, q: Query, table: RecordTable): Decision | undefined {
  if (!q.plainName || (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY)) return undefined;
  const entry = table.get(q.name);
  if (entry) return meshAnswer(packet, q, entry, table.ttlSeconds);
  const ptr = table.ptr(q.name);
  if (ptr) {
    if (q.qtype !== TYPE.PTR && q.qtype !== TYPE.ANY) return { kind: 'reply', bytes: build(packet, q, RCODE.NOERROR, [], ptr.soa), result: 'nodata', query: q };
    return { kind: 'reply', bytes: build(packet, q, RCODE.NOERROR, [rr(TYPE.PTR, table.ttlSeconds, ptr.target)], undefined), result: 'local', query: q };
  }
  if (table.searchShortcut && provablyAbsent(q.name, table.zone)) {
    return { kind: 'reply', bytes: build(packet, q, RCODE.NXDOMAIN, [], table.zoneSoa), result: 'nxdomain', query: q };
  }
  return undefined;
}

function meshAnswer(packet: Buffer, q: Query, entry: MeshEntry, ttl: number): Decision {
  const any = q.qtype === TYPE.ANY;
  // Fast path, the bulk of the traffic: A for an IPv4 VIP, written straight into one buffer.
  if ((q.qtype === TYPE.A || any) && entry.a) {
    const out = Buffer.allocUnsafe(q.questionEnd + 16 + (q.edns ? OPT_BYTES : 0));
    packet.copy(out, 0, 0, q.questionEnd);
    writeHeader(out, q, RCODE.NOERROR, 1, 0);
    let at = q.questionEnd;
    out.writeUInt16BE(0xc000 | HEADER_BYTES, at);
    out.writeUInt16BE(TYPE.A, at + 2);
    out.writeUInt16BE(CLASS_IN, at + 4);
    out.writeUInt32BE(ttl, at + 6);
    out.writeUInt16BE(4, at + 10);
    entry.a.copy(out, at + 12);
    at += 16;
    if (q.edns) writeOpt(out, at, q.dnssecOk);
    return { kind: 'reply', bytes: out, result: 'local', query: q };
  }
  if ((q.qtype === TYPE.AAAA || any) && entry.aaaa) {
    return { kind: 'reply', bytes: build(packet, q, RCODE.NOERROR, [rr(TYPE.AAAA, ttl, entry.aaaa)], undefined), result: 'local', query: q };
  }
  // NODATA (RFC 2308 §2.2): the name exists, this type does not. AAAA lands here for IPv4 VIPs, so
  // a dual-stack client gets its empty answer at once and uses the A record. The SOA lets caches
  // between the app and us keep the empty answer for the same short TTL as the positive one.
  return { kind: 'reply', bytes: build(packet, q, RCODE.NOERROR, [], entry.soa), result: 'nodata', query: q };
}

/** An answer RR owned by the question name (a pointer to offset 12). */
function rr(type: number, ttl: number, rdata: Buffer): Buffer {
  const out = Buffer.allocUnsafe(12 + rdata.length);
  out.writeUInt16BE(0xc000 | HEADER_BYTES, 0);
  out.writeUInt16BE(type, 2);
  out.writeUInt16BE(CLASS_IN, 4);
  out.writeUInt32BE(ttl, 6);
  out.writeUInt16BE(rdata.length, 10);
  rdata.copy(out, 12);
  return out;
}

function build(packet: Buffer, q: Query, rcode: number, answers: Buffer[], authority: Buffer | undefined): Buffer {
  const size = q.questionEnd + answers.reduce((n, a) => n + a.length, 0) + (authority?.length ?? 0) + (q.edns ? OPT_BYTES : 0);
  const out = Buffer.allocUnsafe(size);
  packet.copy(out, 0, 0, q.questionEnd);
  writeHeader(out, q, rcode, answers.length, authority ? 1 : 0);
  let at = q.questionEnd;
  for (const a of answers) at += a.copy(out, at);
  if (authority) at += authority.copy(out, at);
  if (q.edns) writeOpt(out, at, q.dnssecOk);
  return out;
}

function writeHeader(out: Buffer, q: Query, rcode: number, answers: number, authorities: number): void {
  // AA: the mesh names are ours. RD and CD are echoed (RFC 1035 §4.1.1, RFC 4035 §3.2.2); RA is set
  // because we do recurse for everything else.
  out.writeUInt16BE(FLAG_QR | FLAG_AA | (q.flags & (FLAG_RD | FLAG_CD)) | FLAG_RA | rcode, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(answers, 6);
  out.writeUInt16BE(authorities, 8);
  out.writeUInt16BE(q.edns ? 1 : 0, 10);
}
