import { badUserInput } from "../common/errors.js";
import { checkId, checkText } from "../common/validation.js";
import type { CreateAccessTokenInput, TokenScope } from "../generated/graphql.js";

export const TOKEN_NAME_MAX = 100;
export const TOKEN_DATASETS_MAX = 100;
export const TOKEN_DAYS_MAX = 365;

/** `createAccessToken`'s input, checked (the dataset ids' readability is the resolver's, in SQL). */
export interface AccessTokenRequest {
  name: string;
  scope: TokenScope;
  /** Distinct, lower-cased; null: every dataset the user may reach. */
  datasetIds: string[] | null;
  expiresInDays: number | null;
}

export function parseCreateTokenInput(input: CreateAccessTokenInput): AccessTokenRequest {
  const name = checkText("input.name", input.name.trim(), { min: 1, max: TOKEN_NAME_MAX, shown: true });
  let datasetIds: string[] | null = null;
  if (input.datasetIds != null) {
    datasetIds = [...new Set(input.datasetIds.map((id, index) => checkId(`input.datasetIds[${index}]`, id)))];
    if (datasetIds.length === 0 || datasetIds.length > TOKEN_DATASETS_MAX) {
      // An empty list would be a token that reaches nothing: leave the list out for every dataset.
      throw badUserInput("input.datasetIds", `input.datasetIds must name 1 to ${TOKEN_DATASETS_MAX} datasets (or be left out for all of them)`);
    }
  }
  const days = input.expiresInDays ?? null;
  if (days !== null && !(Number.isInteger(days) && days >= 1 && days <= TOKEN_DAYS_MAX)) {
    throw badUserInput("input.expiresInDays", `input.expiresInDays must be 1 to ${TOKEN_DAYS_MAX} (or left out: it never expires)`);
  }
  return { name, scope: input.scope, datasetIds, expiresInDays: days };
}
