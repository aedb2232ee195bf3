// err_t: lwIP's error codes, with lwIP's names and values (err.h).
//
// `throw` traps in AssemblyScript, so every recoverable failure in the core
// is one of these return codes. The host maps them to Errors by name
// (bindings/abi.ts ERR_NAMES); keep the two lists in the same order.

export type err_t = i32;

/** No error, everything OK. */
export const ERR_OK: err_t = 0;
/** Out of memory. */
export const ERR_MEM: err_t = -1;
/** Buffer error. */
export const ERR_BUF: err_t = -2;
/** Timeout. */
export const ERR_TIMEOUT: err_t = -3;
/** Routing problem. */
export const ERR_RTE: err_t = -4;
/** Operation in progress. */
export const ERR_INPROGRESS: err_t = -5;
/** Illegal value. */
export const ERR_VAL: err_t = -6;
/** Operation would block. */
export const ERR_WOULDBLOCK: err_t = -7;
/** Address in use. */
export const ERR_USE: err_t = -8;
/** Already connecting. */
export const ERR_ALREADY: err_t = -9;
/** Connection already established. */
export const ERR_ISCONN: err_t = -10;
/** Not connected. */
export const ERR_CONN: err_t = -11;
/** Low-level netif error. */
export const ERR_IF: err_t = -12;
/** Connection aborted. */
export const ERR_ABRT: err_t = -13;
/** Connection reset. */
export const ERR_RST: err_t = -14;
/** Connection closed. */
export const ERR_CLSD: err_t = -15;
/** Illegal argument. */
export const ERR_ARG: err_t = -16;
