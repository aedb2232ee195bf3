// pbuf: packet buffers (lwIP pbuf.c).
//
// A packet is a chain of pbufs linked through `next`. The first pbuf's
// `tot_len` is the length of the whole packet; each pbuf's `len` is the bytes
// in its own payload. Kinds (lwIP's encoding of `type_internal`):
//
//   PBUF_RAM   header and payload in one `mem` heap block (contiguous)
//   PBUF_POOL  header and payload in one PBUF_POOL element; larger packets
//              are chains of them
//   PBUF_ROM   header from MEMP.PBUF, payload in memory that never changes
//   PBUF_REF   header from MEMP.PBUF, payload in memory that may change
//              (copied by pbuf_unref_volatile/clone before queueing)
//   custom     (flag PBUF_FLAG_IS_CUSTOM) payload owned by a driver; freeing
//              calls the driver's free hook instead of returning memory
//
//   struct pbuf (24 bytes, PBUF_STRUCT_SIZE):
//   +0  next          usize   next pbuf in the chain, 0 at the end
//   +4  payload       usize   first byte of this pbuf's data
//   +8  tot_len       u32     bytes in this pbuf and all that follow
//   +12 len           u32     bytes in this pbuf
//   +16 type_internal u8      kind bits (PBUF_TYPE_*)
//   +17 flags         u8      PBUF_FLAG_*
//   +18 ref           u16     references; freed when it drops to 0
//   +20 if_idx        u8      netif the packet came in on (NETIF_NO_INDEX)
//   +21..23           reserved
//   struct pbuf_custom (32 bytes, PBUF_CUSTOM_SIZE) adds:
//   +24 custom_free   u32     free hook: a function table index
//   +28 custom_arg    u32     the driver's own word
//
// tot_len and len are u32 (lwIP: u16), so chains longer than 64 KiB and
// RAM pbufs holding a 64 KiB-MTU frame need no special cases.

export const PBUF_STRUCT_SIZE: u32 = 24;
export const PBUF_CUSTOM_SIZE: u32 = 32;

/** Layers: how much header room to reserve in front of the payload. */
export const enum pbuf_layer {
  /** Room for transport (TCP) + IP + link headers. */
  PBUF_TRANSPORT = 78, // PBUF_LINK_ENCAPSULATION_HLEN + PBUF_LINK_HLEN + PBUF_IP_HLEN + PBUF_TRANSPORT_HLEN
  /** Room for IP + link headers. */
  PBUF_IP = 58,
  /** Room for the link header. */
  PBUF_LINK = 18,
  /** Room for link encapsulation only (none here). */
  PBUF_RAW_TX = 0,
  /** No header room: received frames. */
  PBUF_RAW = 0,
}

// type_internal bits (lwIP pbuf.h)
export const PBUF_TYPE_FLAG_STRUCT_DATA_CONTIGUOUS: u8 = 0x80;
export const PBUF_TYPE_FLAG_DATA_VOLATILE: u8 = 0x40;
export const PBUF_TYPE_ALLOC_SRC_MASK: u8 = 0x0f;
export const PBUF_TYPE_ALLOC_SRC_MASK_STD_HEAP: u8 = 0x00;
export const PBUF_TYPE_ALLOC_SRC_MASK_STD_MEMP_PBUF: u8 = 0x01;
export const PBUF_TYPE_ALLOC_SRC_MASK_STD_MEMP_PBUF_POOL: u8 = 0x02;

/** The kinds, as values of `type_internal`. */
export const enum pbuf_type {
  PBUF_RAM = 0x80, // CONTIGUOUS | HEAP
  PBUF_ROM = 0x01, // MEMP_PBUF
  PBUF_REF = 0x41, // VOLATILE | MEMP_PBUF
  PBUF_POOL = 0x82, // CONTIGUOUS | MEMP_PBUF_POOL
}

// flags
export const PBUF_FLAG_PUSH: u8 = 0x01;
export const PBUF_FLAG_IS_CUSTOM: u8 = 0x02;
export const PBUF_FLAG_MCASTLOOP: u8 = 0x04;
export const PBUF_FLAG_LLBCAST: u8 = 0x08;
export const PBUF_FLAG_LLMCAST: u8 = 0x10;
export const PBUF_FLAG_TCP_FIN: u8 = 0x20;

export const NETIF_NO_INDEX: u8 = 0;

@unmanaged
export class pbuf {
  next: pbuf | null;
  payload: usize;
  tot_len: u32;
  len: u32;
  type_internal: u8;
  flags: u8;
  ref: u16;
  if_idx: u8;
  _r0: u8;
  _r1: u16;
}

@unmanaged
export class pbuf_custom extends pbuf {
  /** Function table index of `(p: pbuf) => void`, called when the last reference goes. */
  custom_free: u32;
  custom_arg: u32;
}
