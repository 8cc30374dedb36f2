#pragma once
// Task classification: which routing task a chat request belongs to, and so which minimum
// deployment quality it asks for. Deterministic and cheap: the x-switchyard-task header if
// present, else the first matching rule of routing.tasks, else routing.default_task.
// Regexes are RE2 (linear time in the text, bounded memory), so no rule can stall a worker.
// Asio-free; no exceptions on the request path.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/config/config.hpp"

namespace re2 {
class RE2;
}

namespace switchyard::router {

/// What task rules look at in a request.
struct RequestFeatures {
  /// Text of the last role:"user" message, JSON-unescaped: its string content, or its
  /// "text" parts joined with "\n". Empty when no rule uses text (see FeatureNeeds).
  std::string last_user_text;
  std::int64_t prompt_tokens = 0;  ///< the caller's estimate (ChatRequest::prompt_tokens_estimate)
  bool tools = false;              ///< non-empty "tools" (or legacy "functions") array
  bool json_schema = false;        ///< response_format.type == "json_schema"
  bool images = false;  ///< some message has an "image_url" / "input_image" / "image" part
};

/// Which features the configured rules use; extract_features reads nothing else.
struct FeatureNeeds {
  bool text = false;
  bool tools = false;
  bool json_schema = false;
  bool images = false;
};

/// Reads the needed features from a chat-completions body without a DOM of the whole body,
/// in one forward pass: only the top-level members "messages", "tools", "functions" and
/// "response_format" are looked into, everything else is skipped, and only the last user
/// message's text is decoded (its content is the one part read twice). Reuses
/// `out.last_user_text`'s capacity and allocates nothing else (unless a "role" or "type"
/// value is itself written with escapes). Precondition: `body` is valid JSON
/// (api::json_valid); on invalid input the features are unspecified but nothing is read
/// outside `body`. Any thread.
void extract_features(std::string_view body, std::int64_t prompt_tokens, const FeatureNeeds& needs,
                      RequestFeatures& out);
RequestFeatures extract_features(std::string_view body, std::int64_t prompt_tokens,
                                 const FeatureNeeds& needs);

/// Immutable after construction; classify() may run on every worker at once.
class Classifier {
 public:
  /// Compiles every rule's regex with RE2. Start-up only: throws config::ConfigError
  /// ("routing.tasks[2].when.regex: <RE2 error>") for a pattern RE2 rejects or that needs
  /// more than kMaxRegexMemory. Copies what it needs: `routing` may die afterwards.
  explicit Classifier(const config::Routing& routing);
  ~Classifier();
  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  static constexpr std::int64_t kMaxRegexMemory = 8 << 20;  ///< RE2 max_mem per pattern

  /// The features the rules use: pass to extract_features.
  const FeatureNeeds& needs() const { return needs_; }

  struct Result {
    std::string_view task;  ///< the task's name; points into this Classifier
    double min_quality = 0;
    bool from_header = false;
    bool ok = true;  ///< false: header_task names no configured task (answer 400)
  };

  /// header_task: the x-switchyard-task header's value, "" when absent. A header must name a
  /// task of routing.tasks or the default task exactly. A rule with no condition set never
  /// matches (it only gives its task a min_quality, e.g. for the default task). The default
  /// task's min_quality is that of the first task of the same name, else 0.
  Result classify(std::string_view header_task, const RequestFeatures& f) const noexcept;

 private:
  struct Rule {
    std::string name;
    double min_quality = 0;
    std::unique_ptr<re2::RE2> regex;  ///< null: no regex condition
    std::int64_t min_prompt_tokens = 0;
    signed char tools = -1, json_schema = -1, images = -1;  ///< -1 unset, else wanted value
    bool match_all = false;
    bool has_condition = false;
    bool matches(const RequestFeatures& f) const noexcept;
  };

  std::vector<Rule> rules_;
  std::string default_task_;
  double default_min_quality_ = 0;
  FeatureNeeds needs_;
};

}  // namespace switchyard::router
