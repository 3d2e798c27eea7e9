// Runs bcrypt in a worker thread (piscina), so hashing never blocks the event loop.
// Plain JavaScript: worker threads load it without the TypeScript loader.
import bcrypt from "bcryptjs";

/**
 * @param {{ op: "hash", password: string, cost: number } | { op: "compare", password: string, hash: string }} task
 * @returns {string | boolean}
 */
export default function run(task) {
  return task.op === "hash" ? bcrypt.hashSync(task.password, task.cost) : bcrypt.compareSync(task.password, task.hash);
}
