// Browser stand-in for node:events, so modules of the bindings that are
// Node-only (node:dgram compatibility) still load in the page. Minimal.
export class EventEmitter {
  #l = new Map();
  on(e, f) { (this.#l.get(e) ?? this.#l.set(e, []).get(e)).push(f); return this; }
  addListener(e, f) { return this.on(e, f); }
  once(e, f) { const g = (...a) => { this.off(e, g); f(...a); }; return this.on(e, g); }
  off(e, f) { const a = this.#l.get(e); if (a) a.splice(a.indexOf(f) >>> 0, 1); return this; }
  removeListener(e, f) { return this.off(e, f); }
  removeAllListeners(e) { if (e === undefined) this.#l.clear(); else this.#l.delete(e); return this; }
  emit(e, ...a) { const l = this.#l.get(e); if (!l || l.length === 0) return false; for (const f of [...l]) f(...a); return true; }
  listenerCount(e) { return this.#l.get(e)?.length ?? 0; }
}
export default { EventEmitter };
