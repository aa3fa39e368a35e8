import net from 'node:net';

/**
 * A minimal RESP2 client for the local Upstash gateway: it sends commands as written and
 * hands back replies untransformed (status vs bulk string, errors inside EXEC arrays), which
 * is what a faithful REST gateway needs. It reconnects on the next request after Redis
 * went away, so the local stack recovers when redis-server comes back.
 */
export type Reply =
  | { type: 'status'; value: string }
  | { type: 'error'; message: string }
  | { type: 'integer'; value: number }
  | { type: 'bulk'; value: Buffer | null }
  | { type: 'array'; value: Reply[] | null };

export type RedisAddress = { path: string } | { host: string; port: number; password?: string };

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
}

export class RespClient {
  private socket: net.Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: Pending[] = [];

  constructor(private readonly address: RedisAddress) {}

  /** Sends all commands in one write (so a MULTI…EXEC batch stays contiguous) and returns their replies in order. */
  async send(commands: readonly (readonly (string | Buffer)[])[]): Promise<Reply[]> {
    const socket = await this.connect();
    const replies = commands.map(() => new Promise<Reply>((resolve, reject) => this.pending.push({ resolve, reject })));
    socket.write(Buffer.concat(commands.map(encode)));
    return Promise.all(replies);
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connecting: Promise<net.Socket> | undefined;

  private connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const socket = 'path' in this.address ? net.createConnection(this.address.path) : net.createConnection(this.address.port, this.address.host);
      socket.setNoDelay(true);
      socket.once('connect', async () => {
        this.socket = socket;
        this.connecting = undefined;
        if ('password' in this.address && this.address.password) {
          const [reply] = await this.send([['AUTH', this.address.password]]).catch((err: Error) => [{ type: 'error' as const, message: err.message }]);
          if (reply?.type === 'error') {
            socket.destroy();
            return reject(new Error(`redis AUTH failed: ${reply.message}`));
          }
        }
        resolve(socket);
      });
      socket.on('data', (chunk) => this.onData(chunk));
      socket.once('error', (err) => {
        this.connecting = undefined;
        this.fail(err);
        reject(err);
      });
      socket.once('close', () => {
        if (this.socket === socket) this.socket = undefined;
        this.fail(new Error('redis connection closed'));
      });
    });
    return this.connecting;
  }

  private fail(err: Error): void {
    const pending = this.pending;
    this.pending = [];
    this.buffer = Buffer.alloc(0);
    for (const p of pending) p.reject(err);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      const parsed = parse(this.buffer, 0);
      if (!parsed) return;
      this.buffer = this.buffer.subarray(parsed.next);
      this.pending.shift()?.resolve(parsed.reply);
    }
  }
}

function encode(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parses one reply starting at `offset`, or returns undefined if more bytes are needed. */
function parse(buf: Buffer, offset: number): { reply: Reply; next: number } | undefined {
  const lineEnd = buf.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const kind = String.fromCharCode(buf[offset]!);
  const line = buf.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (kind) {
    case '+':
      return { reply: { type: 'status', value: line }, next };
    case '-':
      return { reply: { type: 'error', message: line }, next };
    case ':':
      return { reply: { type: 'integer', value: Number(line) }, next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { reply: { type: 'bulk', value: null }, next };
      if (buf.length < next + length + 2) return undefined;
      return { reply: { type: 'bulk', value: Buffer.from(buf.subarray(next, next + length)) }, next: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { reply: { type: 'array', value: null }, next };
      const items: Reply[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buf, at);
        if (!item) return undefined;
        items.push(item.reply);
        at = item.next;
      }
      return { reply: { type: 'array', value: items }, next: at };
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(kind)}`);
  }
}
