#pragma once
// The one interface the relay has to every upstream stream dialect: each upstream SSE
// event in, 0..n OpenAI chat.completion.chunk payloads out. OpenAI-dialect streams need no
// transcoding (`active()` is false: the relay reads their payloads as they are); Anthropic
// and Gemini streams go through their adapter's transcoder. A variant, not a virtual base:
// the relay calls it once per event and the set of dialects is closed.

#include <variant>

#include "switchyard/adapters/anthropic.hpp"
#include "switchyard/adapters/gemini.hpp"

namespace switchyard::adapters {

class StreamTranscoder {
 public:
  enum class Dialect { openai, anthropic, gemini };

  StreamTranscoder() = default;  ///< OpenAI: no transcoding
  StreamTranscoder(Dialect d, const DecodeContext& ctx) {
    if (d == Dialect::anthropic) v_.emplace<anthropic::StreamTranscoder>(ctx);
    if (d == Dialect::gemini) v_.emplace<gemini::StreamTranscoder>(ctx);
  }

  bool active() const { return !std::holds_alternative<std::monostate>(v_); }

  /// One upstream event → payloads appended to `out`; false: not an event of this dialect
  /// (skipped). Only when active().
  bool on_event(std::string_view event, std::string_view data, std::vector<std::string>& out) {
    return std::visit(
        [&](auto& tx) {
          if constexpr (std::is_same_v<std::decay_t<decltype(tx)>, std::monostate>) {
            return false;
          } else {
            return tx.on_event(event, data, out);
          }
        },
        v_);
  }

  /// The upstream body ended (Gemini's streams end so, with no terminating event).
  void on_end(std::vector<std::string>& out) {
    std::visit(
        [&](auto& tx) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(tx)>, std::monostate>) {
            tx.on_end(out);
          }
        },
        v_);
  }

 private:
  std::variant<std::monostate, anthropic::StreamTranscoder, gemini::StreamTranscoder> v_;
};

}  // namespace switchyard::adapters
