export {
  ChannelRules,
  compileGoRegex,
  historyEnabled,
  validPublicationData,
  type ResolvedChannel,
} from './rules.js';
export type {
  ChannelOptionsConfig,
  ChannelSectionConfig,
  NamespaceConfig,
  PersonalChannelConfig,
} from './types.js';
