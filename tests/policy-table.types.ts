/**
 * Type-level test, run by `tsc --noEmit` (npm run typecheck, CI), not by vitest: the policy
 * table is typed against the schema, so each mistake below must fail to compile. Every
 * case changes one thing of the real table; if the typing stopped catching it, its
 * `@ts-expect-error` would be unused, and that is an error of its own.
 */
import type { DatasetRow } from "../src/datasets/rows.js";
import { type PolicyTable, policy, type Rule, withParent } from "../src/policy/field-rules.js";

const datasetOwnerOnly: Rule<DatasetRow> = () => {};

export const misnamedField: PolicyTable = {
  ...policy,
  // @ts-expect-error User has no field `emial`.
  User: { ...policy.User, emial: withParent },
};

export const misnamedType: PolicyTable = {
  ...policy,
  // @ts-expect-error There is no type `Datasets`.
  Datasets: {},
};

const { me: _me, ...queryWithoutMe } = policy.Query;
export const rootFieldWithoutRule: PolicyTable = {
  ...policy,
  // @ts-expect-error Query.me has no rule.
  Query: queryWithoutMe,
};

const { PageInfo: _pageInfo, ...tableWithoutPageInfo } = policy;
// @ts-expect-error The PageInfo type has no entry.
export const typeWithoutEntry: PolicyTable = tableWithoutPageInfo;

export const ruleForAnotherTypesRows: PolicyTable = {
  ...policy,
  // @ts-expect-error A rule written for datasets cannot guard a user's field.
  User: { ...policy.User, email: datasetOwnerOnly },
};
