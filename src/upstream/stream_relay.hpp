#pragma once
// The event side of relaying one upstream stream, with no I/O: bytes read from the
// upstream body go in (feed), SSE events are parsed, transcoded into OpenAI chunk payloads
// when the upstream speaks another dialect, inspected (content, finish, error, usage), and
// what the client must get is appended to `out` in the client's dialect. The attempt reads
// into `buf` and feeds; the relay (relay.cpp) writes `out` and decides at the commit point.
// Tested by feeding bytes split at every offset (tests/upstream/relay_test.cpp).

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/adapters/messages_front.hpp"
#include "switchyard/adapters/openai.hpp"
#include "switchyard/adapters/stream_transcoder.hpp"
#include "switchyard/sse/sse_parser.hpp"

namespace switchyard::upstream {

class StreamRelay {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kReadChunk = 16u << 10;

  struct Options {
    adapters::StreamTranscoder tx;  ///< identity for OpenAI-dialect upstreams
    /// The client gets the upstream's own events (Anthropic to an Anthropic client); a
    /// `writer`, if set, follows them in the shadow so a rescue can take over.
    bool raw = false;
    /// Anthropic clients: OpenAI payloads → their events. Owned by the caller (or by the
    /// relay: `own_writer`).
    adapters::messages_front::EventWriter* writer = nullptr;
    std::unique_ptr<adapters::messages_front::EventWriter> own_writer;
    bool client_include_usage = false;  ///< else the usage-only chunk we asked for is dropped
    // A continuation (stream rescue) of an answer the client already has part of:
    bool continuation = false;
    std::string skip_ws;              ///< whitespace cut from the prefill, dropped from the reply
    std::string client_id;            ///< the chunk id the client knows
    std::int64_t prefill_chunks = 0;  ///< the earlier attempts' content chunks
  };

  explicit StreamRelay(Options o);

  /// Bytes of the upstream body. false: an event grew past the parser's limit (malformed).
  bool feed(std::string_view bytes, Clock::time_point now);
  /// The upstream body ended without error: a transcoded stream may still have payloads
  /// (Gemini's end with the body, without a terminating event).
  void body_ended(Clock::time_point now);
  /// Nothing more will be read: the answer is done, or the upstream said it failed.
  bool stopped() const { return done || upstream_error; }
  /// The end of the client's stream, in its dialect (into `out`).
  void emit_done();
  /// A clean error event for the client, in its dialect (into `out`).
  void emit_error(std::string_view message, std::string_view code);

  // What the relay has learnt (read by the attempt, the relay and accounting).
  std::string out;          ///< for the client, not yet written
  bool commit_now = false;  ///< a content event arrived: the answer can start
  bool done = false;        ///< the stream's terminator ([DONE] or message_stop)
  bool finished = false;    ///< a finish_reason was seen
  bool upstream_error = false;
  std::string upstream_error_msg;
  std::size_t skipped = 0;         ///< data events that were not JSON (never relayed)
  std::size_t content_events = 0;  ///< events with content
  Clock::time_point first_content_at{}, last_content_at{};
  usage::Usage usage;             ///< the provider's, when a chunk carried it
  std::size_t content_bytes = 0;  ///< answer text relayed so far
  std::string text;               ///< choice 0's text this stream produced
  bool unsafe = false;            ///< a tool call, reasoning or a second choice went out
  std::string first_id;           ///< the first chunk id seen
  adapters::messages_front::EventWriter* writer() const { return o_.writer; }
  /// Hands the relay's own writer over (to the client stream, at the commit point); the
  /// relay keeps using it through writer().
  std::unique_ptr<adapters::messages_front::EventWriter> take_writer() {
    return std::move(o_.own_writer);
  }
  bool raw() const { return o_.raw; }

  std::array<char, kReadChunk> buf;  ///< the attempt reads the upstream body into this

 private:
  /// One OpenAI-shaped payload; false: stop reading this event's payloads (end or error).
  bool take(std::string_view payload, std::string_view event_name, Clock::time_point now);

  Options o_;
  sse::Parser sse_;
  sse::Event ev_;
  bool ended_ = false;                 // the transcoder has seen the end of the body
  std::vector<std::string> payloads_;  // scratch
  std::string shadow_;                 // the shadow writer's output, dropped
};

}  // namespace switchyard::upstream
