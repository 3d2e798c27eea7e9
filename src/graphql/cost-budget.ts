import type { FieldNode, GraphQLResolveInfo } from "graphql";
import { listTooExpensive } from "../common/errors.js";

/**
 * The part of an operation's cost that only execution knows: the length of a list that the
 * contract gives no `first` for (a version's `files`, up to 10,000). The static analysis
 * (limits.ts) counts such a list as ASSUMED_LIST_LENGTH items and records what each item
 * costs; when the list's resolver knows its length (a version's `fileCount`), before any row
 * is read, it charges the items past that assumption here. Past the budget the list is
 * refused with REQUEST_TOO_EXPENSIVE (`extensions.limit` MAX_COST) and nothing of it is read.
 */

/** What the static analysis counts a list without `first` as: the schema's default page size. */
export const ASSUMED_LIST_LENGTH = 20;

export class CostBudget {
  #charged = 0;

  /**
   * `staticCost`: the operation's cost as analysed before execution (within `maxCost`);
   * `itemCosts`: what one item of each list without `first` costs, by its field node.
   */
  constructor(
    readonly staticCost: number,
    private readonly maxCost: number,
    private readonly itemCosts: ReadonlyMap<FieldNode, number> = new Map(),
  ) {}

  /** The cost so far: the static cost and what execution charged. */
  get total(): number {
    return this.staticCost + this.#charged;
  }

  /** The same budget, nothing charged yet (each event of a subscription executes anew). */
  fresh(): CostBudget {
    return new CostBudget(this.staticCost, this.maxCost, this.itemCosts);
  }

  /**
   * Charges a list of `length` items selected by `fieldNodes`. The charges may take the
   * cost to MAX_COST, or past it up to `floor` in all when that is more: a list the API
   * cannot page (one version's files) must stay readable in one request whatever the limit.
   */
  chargeList(fieldNodes: readonly FieldNode[], fieldName: string, length: number, floor: number): void {
    // Fields merged from several selections run once with all of them: the dearest counts.
    const perItem = Math.max(1, ...fieldNodes.map((node) => this.itemCosts.get(node) ?? 1));
    const charge = Math.max(0, length - ASSUMED_LIST_LENGTH) * perItem;
    const allowed = Math.max(this.maxCost - this.staticCost, floor);
    if (this.#charged + charge > allowed) {
      throw listTooExpensive(fieldName, length, this.total + charge, Math.max(this.maxCost, this.staticCost + floor));
    }
    this.#charged += charge;
  }
}

/** The part of the request's context a charge reads and writes (the GraphQL `Context` is one). */
export interface BudgetHolder {
  cost?: CostBudget;
  services: { config: { limits: { maxCost: number } } };
}

/** Charges the list `info` resolves, of `length` items, to the request's budget (see CostBudget.chargeList). */
export function chargeListLength(context: BudgetHolder, info: GraphQLResolveInfo, length: number, floor: number): void {
  context.cost ??= new CostBudget(0, context.services.config.limits.maxCost);
  context.cost.chargeList(info.fieldNodes, info.fieldName, length, floor);
}
