/**
 * The token-related part of the configuration, as this module reads it. It mirrors the keys of
 * `client.token` / `client.subscription_token` in the Centrifugo v6 config (snake_case), so the
 * full `Config` object is assignable to it. Missing keys take their Centrifugo defaults.
 */
export interface TokenSettings {
  hmac_secret_key?: string;
  hmac_previous_secret_key?: string;
  /** Unix seconds after which the previous HMAC key is refused; 0 = no deadline. */
  hmac_previous_secret_key_valid_until?: number;
  rsa_public_key?: string;
  ecdsa_public_key?: string;
  jwks_public_endpoint?: string;
  audience?: string;
  audience_regex?: string;
  issuer?: string;
  issuer_regex?: string;
  user_id_claim?: string;
  insecure_skip_jwks_endpoint_safety_check?: boolean;
}

export interface SubscriptionTokenSettings extends TokenSettings {
  enabled?: boolean;
}

/** The subset of `Config` the token verifiers need. */
export interface AuthConfig {
  client: {
    token?: TokenSettings;
    subscription_token?: SubscriptionTokenSettings;
    insecure_skip_token_signature_verify?: boolean;
  };
}
