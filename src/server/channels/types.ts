/**
 * The channel part of the configuration as this module reads it: Centrifugo v6 keys in
 * snake_case, durations in milliseconds. The full `Config` object is assignable to these shapes;
 * missing keys take Centrifugo defaults.
 */
export interface ChannelOptionsConfig {
  presence?: boolean;
  join_leave?: boolean;
  force_push_join_leave?: boolean;
  history_size?: number;
  /** ms */
  history_ttl?: number;
  /** ms; 0 = the global `channel.history_meta_ttl`. */
  history_meta_ttl?: number;
  force_positioning?: boolean;
  allow_positioning?: boolean;
  force_recovery?: boolean;
  allow_recovery?: boolean;
  force_recovery_mode?: string;
  auto_cache_recover?: boolean;
  allowed_delta_types?: readonly string[];
  allow_tags_filter?: boolean;
  delta_publish?: boolean;
  allow_subscribe_for_anonymous?: boolean;
  allow_subscribe_for_client?: boolean;
  allow_publish_for_anonymous?: boolean;
  allow_publish_for_subscriber?: boolean;
  allow_publish_for_client?: boolean;
  allow_presence_for_anonymous?: boolean;
  allow_presence_for_subscriber?: boolean;
  allow_presence_for_client?: boolean;
  allow_history_for_anonymous?: boolean;
  allow_history_for_subscriber?: boolean;
  allow_history_for_client?: boolean;
  allow_user_limited_channels?: boolean;
  channel_regex?: string;
  publication_data_format?: string;
  subscribe_proxy_enabled?: boolean;
  subscribe_proxy_name?: string;
  publish_proxy_enabled?: boolean;
  publish_proxy_name?: string;
  sub_refresh_proxy_enabled?: boolean;
  sub_refresh_proxy_name?: string;
  subscribe_stream_proxy_enabled?: boolean;
  subscribe_stream_proxy_name?: string;
  subscribe_stream_proxy_bidirectional?: boolean;
  subscription_type?: string;
}

export interface NamespaceConfig extends ChannelOptionsConfig {
  name: string;
}

/** `config.channel`. */
export interface ChannelSectionConfig {
  without_namespace?: ChannelOptionsConfig;
  namespaces?: readonly NamespaceConfig[];
  /** ms, default 720h. */
  history_meta_ttl?: number;
  publication_data_format?: string;
  max_length?: number;
  private_prefix?: string;
  namespace_boundary?: string;
  user_boundary?: string;
  user_separator?: string;
}

/** `config.client.subscribe_to_user_personal_channel`. */
export interface PersonalChannelConfig {
  enabled?: boolean;
  personal_channel_namespace?: string;
  single_connection?: boolean;
}
