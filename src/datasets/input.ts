import { badUserInput } from "../common/errors.js";
import type { CreateDatasetInput, UpdateDatasetInput } from "../generated/graphql.js";
import { checkText } from "../common/validation.js";
import { writableFields } from "../db/columns.js";
import { checkLicense, checkReadme, checkTags } from "./card.js";
import { DATASET_COLUMNS } from "./columns.js";
import type { DatasetChanges, NewDataset } from "./store.js";

/** Dataset input rules (docs/api.md "Input rules"), turning GraphQL input into what is stored. */

export const NAME_MAX = 255;
export const DESCRIPTION_MAX = 10_000;
export const FILE_PATH_MAX = 500;

/** A name is trimmed, then must be 1 to 255 characters. */
function checkName(field: string, name: string): string {
  // Control characters are refused before trimming, so a name is never silently changed by them.
  checkText(field, name, { max: Number.MAX_SAFE_INTEGER, shown: true });
  return checkText(field, name.trim(), { min: 1, max: NAME_MAX, shown: true });
}

const checkDescription = (field: string, value: string) => checkText(field, value, { max: DESCRIPTION_MAX, multiline: true });

const checkFilePath = (field: string, value: string) => checkText(field, value, { max: FILE_PATH_MAX, shown: true });

export function parseCreateInput(input: CreateDatasetInput): NewDataset {
  return {
    name: checkName("input.name", input.name),
    description: input.description == null ? null : checkDescription("input.description", input.description),
    filePath: input.filePath == null ? null : checkFilePath("input.filePath", input.filePath),
    visibility: input.visibility ?? "PRIVATE",
    license: input.license == null ? null : checkLicense("input.license", input.license),
    tags: input.tags == null ? [] : checkTags("input.tags", input.tags),
    readme: input.readme == null ? null : checkReadme("input.readme", input.readme),
  };
}

/** Fields left out stay unchanged; `description`, `filePath`, `license`, `tags` and `readme` may be cleared with null. */
export function parseUpdateInput(input: UpdateDatasetInput): DatasetChanges {
  const changes: DatasetChanges = {};
  if (input.name === null) throw badUserInput("input.name", "input.name cannot be null: a dataset always has a name");
  if (input.name !== undefined) changes.name = checkName("input.name", input.name);
  if (input.description !== undefined) {
    changes.description = input.description === null ? null : checkDescription("input.description", input.description);
  }
  if (input.filePath !== undefined) {
    changes.filePath = input.filePath === null ? null : checkFilePath("input.filePath", input.filePath);
  }
  if (input.visibility === null) throw badUserInput("input.visibility", "input.visibility cannot be null: a dataset is PRIVATE, UNLISTED or PUBLIC");
  if (input.visibility !== undefined) changes.visibility = input.visibility;
  if (input.license !== undefined) changes.license = input.license === null ? null : checkLicense("input.license", input.license);
  if (input.tags !== undefined) changes.tags = input.tags === null ? [] : checkTags("input.tags", input.tags);
  if (input.readme !== undefined) changes.readme = input.readme === null ? null : checkReadme("input.readme", input.readme);
  if (Object.keys(changes).length === 0) {
    throw badUserInput("input", `input must change at least one of ${writableFields(DATASET_COLUMNS).join(", ")}`);
  }
  return changes;
}
