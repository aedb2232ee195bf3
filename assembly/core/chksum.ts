// chksum: the Internet checksum (RFC 1071). PLACEHOLDER: being written (helper B).
import { pbuf } from "./pbuf";

/** One's complement sum of `len` bytes at `ptr`, folded to 16 bits, in network byte order semantics (see file comment). */
export function inet_chksum(ptr: usize, len: u32): u16 {
  let sum: u32 = 0;
  for (let i: u32 = 0; i + 1 < len; i += 2) sum += <u32>load<u8>(ptr + i) << 8 | load<u8>(ptr + i + 1);
  if (len & 1) sum += <u32>load<u8>(ptr + len - 1) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return <u16>~sum;
}
