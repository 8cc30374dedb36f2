#pragma once
// Behaviour directives of the mock provider: what a test asks one request to do
// (latency, errors, resets, stream shape). Pure parsing, no I/O; see docs/mock-provider.md.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard::mock {

/// Longest wait any directive may ask for; also how long stall/hang hold a connection.
inline constexpr std::uint32_t kMaxWaitMs = 10 * 60 * 1000;

/// Per-request behaviour. Defaults give a plain, immediate, successful answer.
struct Directives {
  std::uint32_t latency_ms = 0;      ///< before the response head, for every response
  std::uint32_t tail_every = 0;      ///< every Nth request (mock-wide sequence)…
  std::uint32_t tail_ms = 0;         ///< …waits this much longer before its head
  std::uint32_t cut_pct = 0;         ///< streams reset at a random content chunk, % of requests
  std::uint32_t tokens = 8;          ///< content tokens of the answer
  std::uint32_t chunk_delay_ms = 0;  ///< stream: between successive writes
  std::optional<std::uint32_t> first_token_ms;  ///< stream: role chunk → first content chunk
  unsigned status = 0;                          ///< 0 = success path, else 400..599
  std::optional<std::string> error_code;        ///< overrides the error `code`; "" means null
  std::optional<std::string> error_type;        ///< overrides the error `type`
  std::optional<std::string> retry_after;       ///< adds a Retry-After header
  bool reset_before_head = false;
  std::optional<std::uint32_t> reset_after;
  std::optional<std::uint32_t> stall_after;
  bool hang = false;
  bool invalid_json = false;
  bool empty_body = false;
  bool no_done = false;
  std::optional<std::uint32_t> error_event_after;
  bool crlf = false;
  bool comments = false;
  bool chunked = false;
  bool close = false;
  std::uint32_t events_per_write = 1;
  bool tool_call = false;
  /// Behave like OpenAI-compatible servers that do not know stream_options: 422 when
  /// the request carries the field.
  bool reject_stream_options = false;
  /// Behave like a model without assistant prefill: 400 when the request ends with an
  /// assistant (Gemini: model) message.
  bool reject_prefill = false;
  /// Fail (with `status`, default 500) while the wall clock is before this Unix time in
  /// milliseconds, then answer normally: a provider outage that ends by itself.
  std::optional<std::uint64_t> fail_until_ms;
  /// Prompt tokens served from a cache (`cached` / `cache_read`): Anthropic's
  /// cache_read_input_tokens, Gemini's cachedContentTokenCount, OpenAI's
  /// prompt_tokens_details.cached_tokens.
  std::uint32_t cached_tokens = 0;
  std::uint32_t cache_write_tokens = 0;  ///< Anthropic cache_creation_input_tokens
  bool blocked = false;                  ///< Gemini: promptFeedback.blockReason, no candidates
  /// Replaces the dialect's stop reason (`finish` / `finish_reason`): OpenAI finish_reason,
  /// Anthropic stop_reason, Gemini finishReason (or blockReason with `blocked`).
  std::optional<std::string> finish_reason;
  bool content_filter = false;  ///< OpenAI/Azure chat: Azure's 400 content_filter error
};

/// %XX-decodes `in` (a malformed escape is kept literally); `+` becomes a space only in
/// query strings, not in URL paths.
std::string percent_decode(std::string_view in, bool plus_is_space = true);

/// Applies `key=value&key=value` (query-string syntax: `+` is a space, `%XX` is decoded,
/// a bare `key` means `key=1`) on top of `d`, left to right, later keys winning.
/// Returns an OpenAI-style message naming the first unknown directive or bad value, or
/// nothing on success. `source` names where the text came from, for that message.
std::optional<std::string> apply_directives(std::string_view query, std::string_view source,
                                            Directives& d);

}  // namespace switchyard::mock
