/** gw settings: kong.conf, KONG_* environment and CLI flags, checked against one zod schema. */
export { formatSettingErrors, type SettingError, type SettingWarning } from "./errors";
export { type CliFlags, parseCliFlags } from "./flags";
export { parseBoolean, parseKongConf, parseList } from "./kong-conf";
export { type Listener, parseHostPort, parseListen } from "./listen";
export { DEFAULT_CONF_PATHS, type LoadOptions, type LoadResult, loadSettings } from "./load";
export { type PemResult, readPemSetting } from "./pem";
export { publicSettings, SENSITIVE_PLACEHOLDER, type SettingReference, settingsReference } from "./public";
export {
  isSettingName,
  metaOf,
  SENSITIVE_SETTINGS,
  SETTING_NAMES,
  type SettingMeta,
  type SettingName,
  type Settings,
  SettingsSchema,
  settingMeta,
} from "./schema";
