/**
 * `npm run measure-bcrypt`: how long one bcrypt comparison takes at each cost on this
 * machine, the way the server runs it (bcryptjs, synchronously, in a worker thread).
 * Use it to choose BCRYPT_COST: the highest cost whose time a person signing in does not notice.
 */
import bcrypt from "bcryptjs";

const PASSWORD = "correct horse battery staple";
for (const cost of [10, 11, 12, 13]) {
  const hash = bcrypt.hashSync(PASSWORD, cost);
  const rounds = cost >= 12 ? 4 : 8;
  const started = performance.now();
  for (let round = 0; round < rounds; round += 1) bcrypt.compareSync(PASSWORD, hash);
  const each = (performance.now() - started) / rounds;
  process.stdout.write(`cost ${cost}: ${each.toFixed(0)} ms per comparison (${(1000 / each).toFixed(1)} sign-ins/s per hash worker)\n`);
}
