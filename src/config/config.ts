/**
 * The configuration, as the rest of the server imports it: `loadConfig` and the `Config` type
 * (load.ts), and the declared table of variables (settings.ts; its parsers in values.ts and
 * parsers.ts).
 */
export {
  type Config,
  ConfigError,
  type ConnectionsConfig,
  type FilesConfig,
  type LimitsConfig,
  loadConfig,
  type PreviewsConfig,
  type TablesConfig,
  type SigningKeyConfig,
  type SubscriptionsConfig,
  type ThrottleConfig,
} from "./load.js";
export { CONFIGURATION_DOCS, DEFAULT_BCRYPT_COST, ENVIRONMENT_VARIABLES } from "./settings.js";
