// The console's client of Coffer's API: one WebSocket to this origin's /ws, with requests
// matched to replies by request_id and server events handed to subscribers, and the HTTP
// transfers with `Authorization: Bearer`. The token travels in the envelope and in that
// header only — never in a URL — and lives in this tab's sessionStorage.

import { Sha256, sha256Of } from './sha256.js';

const SESSION_KEY = 'coffer.session';
// A download is gathered into a Blob every this many bytes, which the browser keeps out of
// the page's memory (on disk when large).
const FOLD_BYTES = 16 * 1024 * 1024;
const ATTEMPTS = 10;

export class ApiError extends Error {
  constructor(code, message, data = {}) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function lost() {
  return new ApiError('connection_lost', 'The connection to the server was lost. Try again.');
}

function cancelled() {
  return new ApiError('cancelled', 'Cancelled.');
}

// An HTTP answer that is not one of the server's replies (a proxy's error page): gateways'
// 502–504 count as a dropped connection, anything else is reported with its status.
function notAReply(status) {
  if (status >= 502 && status <= 504) return new TypeError(`HTTP ${status}`);
  return new ApiError('http_error', `The server (or a proxy before it) answered HTTP ${status}.`);
}

// The whole file's size, from a transfer's answer when the task did not say it.
function sizeOf(res, offset) {
  const range = res.headers.get('content-range');
  const whole = range && /\/(\d+)$/.exec(range);
  if (whole) return Number(whole[1]);
  const length = res.headers.get('content-length');
  return length === null ? null : offset + Number(length);
}

export class Api {
  constructor() {
    this.session = null;
    this.ws = null;
    this.opening = null;
    this.next = 1;
    this.handlers = new Set();
    this.listening = false;
    this.reconnects = 0;
    this.refreshTimer = null;
    this.refreshing = null;
    // Called when the server no longer accepts the session (expired, revoked).
    this.onSessionEnded = () => {};
  }

  // --- the WebSocket -------------------------------------------------------------------

  connect() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) return Promise.resolve(this.ws);
    if (this.opening) return this.opening;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.opening = new Promise((resolve, reject) => {
      const ws = new WebSocket(`${scheme}://${location.host}/ws`);
      ws.pending = new Map();
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.ws = ws;
        this.opening = null;
        this.reconnects = 0;
        resolve(ws);
        if (this.listening) this.register().catch(() => {});
      };
      ws.onmessage = (m) => this.receive(ws, m.data);
      ws.onclose = () => {
        if (!opened) {
          this.opening = null;
          reject(new ApiError('connection_failed', 'The server cannot be reached. Check that it runs and try again.'));
        }
        if (this.ws === ws) this.ws = null;
        for (const p of ws.pending.values()) p.reject(lost());
        ws.pending.clear();
        // Listening pages want their events back: reconnect with a growing pause.
        if (this.listening && this.session) {
          const pause = Math.min(30000, 500 * 2 ** this.reconnects++);
          setTimeout(() => {
            if (this.listening && this.session && !this.ws) this.connect().catch(() => {});
          }, pause);
        }
      };
    });
    return this.opening;
  }

  receive(ws, text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof msg.event === 'string') {
      for (const handler of this.handlers) handler(msg.event, msg.data || {});
      return;
    }
    const pending = ws.pending.get(String(msg.request_id));
    if (!pending) return;
    ws.pending.delete(String(msg.request_id));
    pending.resolve(msg);
  }

  // Calls `action` with `data`; answers the reply's data, or throws an ApiError with the
  // server's code and sentence. Calls wait while the token is being refreshed (the old
  // one stops working then); one sent with a token replaced meanwhile is sent again.
  async call(action, data = {}, again = false) {
    if (this.refreshing && action !== 'refresh_token') await this.refreshing;
    const ws = await this.connect();
    const request_id = String(this.next++);
    const message = { action, data, request_id };
    const token = this.session?.token;
    if (token) message.token = token;
    const reply = await new Promise((resolve, reject) => {
      ws.pending.set(request_id, { resolve, reject });
      ws.send(JSON.stringify(message));
    });
    if (reply.code === 200) return reply.data;
    const err = new ApiError(reply.data?.error || 'error', reply.message, reply.data || {});
    if (err.code === 'invalid_token' && this.session && action !== 'logout' && action !== 'refresh_token') {
      // Sent with a token a refresh replaced (or is replacing): once more with the new one.
      if (this.refreshing) await this.refreshing;
      if (!again && this.session && this.session.token !== token) return this.call(action, data, true);
      if (this.session) this.ended();
    }
    throw err;
  }

  // The token for a transfer: after any refresh in flight; a session that ended is
  // `invalid_token`, not a lost connection.
  async bearer() {
    if (this.refreshing) await this.refreshing;
    if (!this.session) throw new ApiError('invalid_token', 'Your session ended. Log in again.');
    return this.session.token;
  }

  // Events: `handler(name, data)` gets every event this session receives; the returned
  // function unsubscribes.
  subscribe(handler) {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  // Asks for every event the caller may see, now and after each reconnect.
  async listen() {
    this.listening = true;
    await this.register();
  }

  register() {
    return this.call('register_listener', {});
  }

  // Follows job `jobId` to its end: `update(status)` gets each progress event and each
  // status (asked every 2 s, for the step and in case an event was lost); resolves with
  // the final status. `stop` (optional) registers a function that ends the following.
  follow(jobId, statusAction, update, stop = () => {}) {
    const FINAL = ['completed', 'failed', 'timeout', 'cancelled'];
    return new Promise((resolve, reject) => {
      let finished = false;
      let timer = null;
      let unsubscribe = () => {};
      // Events carry no step: keep the last status's, merged with what came since.
      let last = {};
      const push = (news) => {
        last = { ...last, ...news };
        update(last);
      };
      const finish = () => {
        finished = true;
        clearInterval(timer);
        unsubscribe();
      };
      const check = async () => {
        if (finished) return;
        try {
          const status = await this.call(statusAction, { backup_task_id: jobId });
          if (finished) return;
          push(status);
          if (FINAL.includes(status.status)) {
            finish();
            resolve(status);
          }
        } catch (e) {
          if (e.code !== 'connection_lost' && e.code !== 'connection_failed') {
            finish();
            reject(e);
          }
        }
      };
      unsubscribe = this.subscribe((name, data) => {
        if (data.backup_task_id !== jobId || finished) return;
        if (FINAL.includes(data.status)) check();
        else push(data);
      });
      timer = setInterval(check, 2000);
      stop(finish);
      check();
    });
  }

  // --- the session ---------------------------------------------------------------------

  restore() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
      if (saved && saved.exp > Date.now() / 1000 + 5) {
        this.session = saved;
        this.scheduleRefresh();
      }
    } catch {
      sessionStorage.removeItem(SESSION_KEY);
    }
    return this.session;
  }

  async login(tenant, username, password) {
    const data = await this.call('login', { tenant, username, password });
    this.session = {
      token: data.token,
      exp: data.exp,
      tenant: data.tenant,
      username,
      nickname: data.nickname || null,
      permissions: data.permissions,
      groups: data.groups,
    };
    this.save();
    this.scheduleRefresh();
    return this.session;
  }

  can(permission) {
    return !!this.session && this.session.permissions.includes(permission);
  }

  save() {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(this.session));
  }

  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    const left = this.session.exp * 1000 - Date.now();
    this.refreshTimer = setTimeout(() => this.refresh(), Math.max(5000, left * 0.8));
  }

  async refresh() {
    if (!this.session) return;
    let done;
    this.refreshing = new Promise((resolve) => {
      done = resolve;
    });
    try {
      const data = await this.call('refresh_token', {});
      this.session.token = data.token;
      this.session.exp = data.exp;
      this.save();
      this.scheduleRefresh();
      // The server ends a listener with the session it was registered under.
      if (this.listening) this.register().catch(() => {});
    } catch (e) {
      // Refused: the session ended (revoked, expired); anything else: try again soon.
      if (e.code === 'invalid_token' && this.session) this.ended();
      else this.refreshTimer = setTimeout(() => this.refresh(), 30000);
    } finally {
      this.refreshing = null;
      done();
    }
  }

  // Ends the session on the server, then forgets it here (even when the server cannot be
  // reached: the token then expires on its own).
  async logout() {
    try {
      if (this.session) await this.call('logout', {});
    } finally {
      this.forget();
    }
  }

  forget() {
    clearTimeout(this.refreshTimer);
    this.session = null;
    this.listening = false;
    sessionStorage.removeItem(SESSION_KEY);
    if (this.ws) this.ws.close(1000, 'logged out');
  }

  ended() {
    this.forget();
    this.onSessionEnded();
  }

  // --- HTTP transfers ------------------------------------------------------------------

  transferUrl(taskId) {
    return `/api/transfers/${encodeURIComponent(taskId)}`;
  }

  // Uploads `file` (a File or Blob, read from disk as it is sent) to upload task `taskId`,
  // declaring its SHA-256 (hashed first) for the server to check. After a dropped
  // connection it asks the server what it holds and sends the rest from there.
  // `progress(done, total, step)` follows hashing, then the bytes sent. `signal` (an
  // AbortSignal) stops it.
  async upload(taskId, file, progress = () => {}, signal = undefined) {
    const size = file.size;
    const sha256 = await sha256Of(file, (done, total) => {
      if (signal?.aborted) throw cancelled();
      progress(done, total, 'Checking the file');
    });
    let offset = 0;
    let failures = 0;
    let waits = 0;
    let stalls = 0;
    for (;;) {
      let reply;
      try {
        reply = await this.put(taskId, file, offset, sha256, (sent) => progress(offset + sent, size), signal);
      } catch (e) {
        if (!(e instanceof TypeError) || ++failures > ATTEMPTS) throw e instanceof TypeError ? lost() : e;
        await sleep(300 * failures);
        reply = await this.held(taskId, file, sha256, signal);
      }
      // After a broken attempt the server (this instance or another) may still hold the
      // task for it until it notices the drop: wait for it as after the drop itself. The
      // page may not see the break: the browser itself sends a request again when a
      // kept-alive connection fails under it. (A task that is truly unusable is reported
      // after that wait.)
      if (reply.data?.error === 'task_not_usable' && waits++ < 3) {
        reply = await this.held(taskId, file, sha256, signal);
      }
      if (reply.code === 200) {
        progress(size, size);
        return reply.data;
      }
      const resumable =
        reply.code === 202 || ['invalid_offset', 'transfer_timeout'].includes(reply.data?.error);
      if (resumable && Number.isInteger(reply.data?.received)) {
        // Resumes that gain nothing (another instance without the part, again and again)
        // end after a few; drops count afresh while bytes advance.
        if (reply.data.received > offset) failures = 0;
        stalls = reply.data.received > offset ? 0 : stalls + 1;
        if (stalls > ATTEMPTS) throw lost();
        offset = reply.data.received;
        progress(offset, size);
        continue;
      }
      throw new ApiError(reply.data?.error || 'error', reply.message, reply.data || {});
    }
  }

  // One PUT of `file`'s bytes from `start` to its end; resolves with the server's reply,
  // rejects with a TypeError when the connection fails (or a gateway answers 502–504),
  // with an ApiError for another answer that is not a reply.
  async put(taskId, file, start, sha256, sent, signal) {
    const token = await this.bearer();
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(cancelled());
        return;
      }
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', this.transferUrl(taskId));
      xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.setRequestHeader('X-Coffer-Sha256', sha256);
      if (start > 0) {
        xhr.setRequestHeader('Content-Range', `bytes ${start}-${file.size - 1}/${file.size}`);
      }
      const abort = () => xhr.abort();
      signal?.addEventListener('abort', abort);
      const settle = (fn, value) => {
        signal?.removeEventListener('abort', abort);
        fn(value);
      };
      xhr.upload.onprogress = (e) => sent(e.loaded);
      xhr.onload = () => {
        try {
          settle(resolve, JSON.parse(xhr.responseText));
        } catch {
          settle(reject, notAReply(xhr.status));
        }
      };
      xhr.onerror = () => settle(reject, new TypeError('network error'));
      xhr.onabort = () => settle(reject, cancelled());
      xhr.send(file.slice(start));
    });
  }

  // What the server holds of an upload after a drop: a one-byte part at the very end is
  // refused with `received` unless everything before it is there — and then it completes
  // the upload (checked against the declared hash), which is as good. The server may still
  // be holding the task for the broken attempt (`task_not_usable`) until it notices the
  // drop: ask again for up to 30 s.
  async held(taskId, file, sha256, signal) {
    if (file.size === 0) return { code: 202, data: { received: 0 } };
    for (let tries = 0; ; tries++) {
      if (tries > 0) await sleep(500);
      let reply;
      try {
        reply = await this.put(taskId, file, file.size - 1, sha256, () => {}, signal);
      } catch (e) {
        if (!(e instanceof TypeError)) throw e;
        if (tries >= 60) throw lost();
        continue;
      }
      if (reply.data?.error === 'task_not_usable' && tries < 60) continue;
      return reply;
    }
  }

  // Downloads task `taskId` and hands it to the browser as a file named `name`, resuming
  // with `Range` after a dropped connection; the bytes must hash to the server's SHA-256
  // before they are saved. `progress(done, total)` follows the bytes.
  async download(taskId, name, total, progress = () => {}) {
    let blob = new Blob([]);
    let chunks = [];
    let gathered = 0;
    let done = 0;
    let failures = 0;
    let hash = new Sha256();
    let expected = null;
    // A drop, a gateway's 5xx or a short answer: wait, then ask for the rest (drops count
    // afresh while bytes arrive).
    const retry = async (before) => {
      failures = done > before ? 1 : failures + 1;
      if (failures > ATTEMPTS) throw lost();
      await sleep(300 * failures);
    };
    for (;;) {
      const before = done;
      const headers = { Authorization: `Bearer ${await this.bearer()}` };
      if (done > 0) headers.Range = `bytes=${done}-`;
      let res;
      try {
        res = await fetch(this.transferUrl(taskId), { headers, cache: 'no-store' });
      } catch {
        await retry(before);
        continue;
      }
      if (!res.ok) {
        let reply = null;
        try {
          reply = await res.json();
        } catch {
          // not a reply
        }
        if (reply?.data?.error) throw new ApiError(reply.data.error, reply.message, reply.data);
        const err = notAReply(res.status);
        if (err instanceof TypeError) {
          await retry(before);
          continue;
        }
        throw err;
      }
      expected = res.headers.get('x-coffer-sha256') || expected;
      if (done > 0 && res.status !== 206) {
        // The server sent the whole file again: start over.
        blob = new Blob([]);
        chunks = [];
        gathered = 0;
        done = 0;
        hash = new Sha256();
      }
      total ??= sizeOf(res, done);
      const reader = res.body.getReader();
      let broken = false;
      try {
        for (;;) {
          const { done: end, value } = await reader.read();
          if (end) break;
          hash.update(value);
          chunks.push(value);
          gathered += value.length;
          done += value.length;
          progress(done, total ?? done);
          if (gathered >= FOLD_BYTES) {
            blob = new Blob([blob, ...chunks]);
            chunks = [];
            gathered = 0;
          }
        }
      } catch {
        broken = true;
      }
      if (total == null ? !broken : done >= total) break;
      await retry(before);
    }
    const got = hash.hex();
    if (expected && got !== expected) {
      throw new ApiError('hash_mismatch', `The downloaded bytes do not match the server's SHA-256; nothing was saved. Try again.`);
    }
    blob = new Blob([blob, ...chunks], { type: 'application/octet-stream' });
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = name;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    return done;
  }
}
