// A charge point made with ocpp-rpc (an independent OCPP-J implementation, strict mode: every
// frame both ways is checked against the official OCPP JSON schemas). Driven by the conformance
// tests over stdin/stdout, one JSON object per line:
//   in:  {"op":"call","id":1,"method":"BootNotification","params":{...}}
//        {"op":"raw","id":2,"frame":"[2,\"x\",..."}         (sent as is, bypassing validation)
//        {"op":"handle","method":"ReserveNow","response":{"status":"Accepted"}}
//   out: {"id":1,"result":{...}} | {"id":1,"error":{"code":"...","message":"..."}}
//        {"event":"call","method":"ReserveNow","params":{...}}  (a call from the central system)
//        {"event":"in","message":"[4,...]"}                    (every frame received)
//        {"event":"open"} once connected
import readline from 'node:readline';
import { RPCClient } from 'ocpp-rpc';

const [endpoint, identity, protocol] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const client = new RPCClient({
    endpoint, identity, protocols: [protocol], strictMode: true, reconnect: false, callTimeoutMs: 10000,
});
const responses = new Map();
client.handle(({ method, params }) => {
    out({ event: 'call', method, params });
    if (!responses.has(method)) {
        const err = new Error(`${method} not scripted`);
        err.rpcErrorCode = 'NotImplemented';
        throw err;
    }
    return responses.get(method);
});
client.on('message', ({ message, outbound }) => {
    if (!outbound) out({ event: 'in', message: String(message) });
});
client.on('close', () => { out({ event: 'close' }); process.exit(0); });

await client.connect();
out({ event: 'open' });

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', async (line) => {
    const req = JSON.parse(line);
    if (req.op === 'handle') { responses.set(req.method, req.response); return; }
    if (req.op === 'raw') { client.sendRaw(req.frame); out({ id: req.id, sent: true }); return; }
    if (req.op === 'call') {
        try {
            out({ id: req.id, result: await client.call(req.method, req.params) });
        } catch (e) {
            out({ id: req.id, error: { code: e.rpcErrorCode ?? e.name, message: e.message, details: e.details ?? null } });
        }
    }
});
lines.on('close', () => client.close({ force: true }));
