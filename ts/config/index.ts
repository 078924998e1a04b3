// Public API of the config module: load/validate a TOML config into a typed TockConfig.
export {
  BUILTIN_NAME,
  ConfigError,
  builtinConfigText,
  checkConfig,
  formatIssue,
  loadConfig,
  loadConfigReport,
  parseConfig,
  type BuiltinOptions,
  type ConfigIssue,
  type ConfigReport,
} from "./load.js";
export type {
  DaemonConfig,
  FilterListConfig,
  KeysetConfig,
  NtsKeServerConfig,
  ObservabilityConfig,
  RateLimitConfig,
  ServerConfig,
  SourceConfig,
  StepLimit,
  SynchronizationConfig,
  TockConfig,
} from "./schema.js";
export { formatIP, parseCidr, parseHostPort, parseIPv4, parseIPv6, parseListen, type Cidr, type HostPort, type SocketAddr } from "./net.js";
