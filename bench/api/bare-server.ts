/**
 * The bare-route floor, run as its own process like the server: Fastify with no logger and
 * no plugins, `POST /bare/<bytes>` parses the JSON body and answers a JSON body of exactly
 * <bytes> bytes. `GET /healthz` for readiness. PORT from the environment.
 */
import Fastify from "fastify";

const bodies = new Map<number, string>();

/** `{"data":{"pad":"xxx…"}}`, exactly `bytes` long (at least the envelope). */
function bodyOf(bytes: number): string {
  let body = bodies.get(bytes);
  if (body === undefined) {
    const envelope = '{"data":{"pad":""}}';
    body = `{"data":{"pad":"${"x".repeat(Math.max(0, bytes - envelope.length))}"}}`;
    bodies.set(bytes, body);
  }
  return body;
}

const app = Fastify({ logger: false });
app.get("/healthz", async () => ({ status: "ok" }));
app.post<{ Params: { bytes: string } }>("/bare/:bytes", async (request, reply) => {
  const bytes = Math.min(10_000_000, Number.parseInt(request.params.bytes, 10) || 0);
  return reply.type("application/json; charset=utf-8").send(bodyOf(bytes));
});

await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT ?? 0) });
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0)));
}
