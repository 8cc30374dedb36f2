#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "switchyard/adapters/messages_front.hpp"
#include "switchyard/sse/sse_parser.hpp"
#include "test_call.hpp"
#include "upstream/stream_relay.hpp"

namespace switchyard::upstream {
namespace {

using nlohmann::json;
using testing::read_fixture;
using Clock = StreamRelay::Clock;
using Dialect = adapters::StreamTranscoder::Dialect;

const Clock::time_point kT0 = Clock::time_point{} + std::chrono::seconds(100);

// What a relay has learnt and what it has for the client, comparable as a whole.
struct Seen {
  std::string out;
  bool commit_now = false, done = false, finished = false, upstream_error = false;
  std::string upstream_error_msg;
  std::size_t skipped = 0, content_events = 0, content_bytes = 0;
  std::int64_t input = -1, output = -1, cached = 0;
  std::string text;
  bool unsafe = false;
  std::string first_id;
  bool operator==(const Seen&) const = default;
};

void PrintTo(const Seen& s, std::ostream* os) {
  *os << "{commit_now=" << s.commit_now << " done=" << s.done << " finished=" << s.finished
      << " upstream_error=" << s.upstream_error << " '" << s.upstream_error_msg
      << "' skipped=" << s.skipped << " content_events=" << s.content_events
      << " content_bytes=" << s.content_bytes << " usage=" << s.input << "/" << s.output << "/"
      << s.cached << " text='" << s.text << "' unsafe=" << s.unsafe << " first_id=" << s.first_id
      << " out=\n"
      << s.out << "}";
}

Seen seen(const StreamRelay& r) {
  Seen s;
  s.out = r.out;
  s.commit_now = r.commit_now;
  s.done = r.done;
  s.finished = r.finished;
  s.upstream_error = r.upstream_error;
  s.upstream_error_msg = r.upstream_error_msg;
  s.skipped = r.skipped;
  s.content_events = r.content_events;
  s.content_bytes = r.content_bytes;
  s.input = r.usage.input_tokens;
  s.output = r.usage.output_tokens;
  s.cached = r.usage.cached_input_tokens;
  s.text = r.text;
  s.unsafe = r.unsafe;
  s.first_id = r.first_id;
  return s;
}

using MakeOptions = std::function<StreamRelay::Options()>;

StreamRelay::Options openai_client(bool include_usage = false) {
  StreamRelay::Options o;
  o.client_include_usage = include_usage;
  return o;
}

constexpr std::string_view kAnthropicModel = "claude-deployment";
constexpr std::string_view kFallbackId = "chatcmpl-fallback";

StreamRelay::Options from_anthropic(bool include_usage = false) {
  StreamRelay::Options o;
  o.tx = adapters::StreamTranscoder(Dialect::anthropic, {kAnthropicModel, kFallbackId, 1732500000});
  o.client_include_usage = include_usage;
  return o;
}

StreamRelay::Options from_gemini(bool include_usage = false) {
  StreamRelay::Options o;
  o.tx =
      adapters::StreamTranscoder(Dialect::gemini, {"gemini-deployment", kFallbackId, 1700000000});
  o.client_include_usage = include_usage;
  return o;
}

/// Feeds `bytes` cut at `cuts` (ascending offsets), as the attempt does: it stops reading
/// once the relay has stopped. `end_body`: the upstream body then ended cleanly.
Seen feed_cut(const MakeOptions& make, std::string_view bytes, const std::vector<std::size_t>& cuts,
              bool end_body = false) {
  StreamRelay r(make());
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    if (r.stopped()) break;
    EXPECT_TRUE(r.feed(bytes.substr(at, cut - at), kT0));
    at = cut;
  }
  if (!r.stopped()) {
    EXPECT_TRUE(r.feed(bytes.substr(at), kT0));
  }
  if (end_body) r.body_ended(kT0);
  return seen(r);
}

Seen feed_whole(const MakeOptions& make, std::string_view bytes, bool end_body = false) {
  return feed_cut(make, bytes, {}, end_body);
}

/// Splitting the bytes into two feeds at every offset, and feeding them one byte at a time,
/// gives what one feed gives.
void expect_split_invariant(const MakeOptions& make, const std::string& bytes,
                            bool end_body = false) {
  const Seen whole = feed_whole(make, bytes, end_body);
  for (std::size_t k = 0; k <= bytes.size(); ++k) {
    const Seen two = feed_cut(make, bytes, {k}, end_body);
    if (two != whole) {
      ADD_FAILURE() << "split at offset " << k << " of " << bytes.size() << "\n"
                    << ::testing::PrintToString(two) << "\nwant\n"
                    << ::testing::PrintToString(whole);
      return;
    }
  }
  std::vector<std::size_t> every;
  for (std::size_t k = 1; k < bytes.size(); ++k) every.push_back(k);
  EXPECT_EQ(feed_cut(make, bytes, every, end_body), whole) << "one byte at a time";
}

std::string with_line_endings(const std::string& lf, std::string_view eol) {
  std::string out;
  for (char c : lf) {
    if (c == '\n') {
      out += eol;
    } else {
      out += c;
    }
  }
  return out;
}

struct Ev {
  std::string event, data;
};

/// The events the client would read from `out`.
std::vector<Ev> events_of(std::string_view out) {
  sse::Parser p;
  p.feed(out);
  std::vector<Ev> evs;
  sse::Event e;
  while (p.next(e) == sse::Parser::Status::event) evs.push_back({e.event, e.data});
  EXPECT_TRUE(p.idle()) << "a partial event left in: " << out;
  return evs;
}

/// The payloads of an SSE body's data lines ("data: X" → X), in order.
std::vector<std::string> data_lines(const std::string& sse_text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < sse_text.size()) {
    std::size_t eol = sse_text.find('\n', at);
    if (eol == std::string::npos) eol = sse_text.size();
    const std::string_view line(sse_text.data() + at, eol - at);
    if (line.substr(0, 6) == "data: ") out.emplace_back(line.substr(6));
    at = eol + 1;
  }
  return out;
}

std::vector<std::string> non_empty_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t eol = text.find('\n', at);
    if (eol == std::string::npos) eol = text.size();
    if (eol > at) out.push_back(text.substr(at, eol - at));
    at = eol + 1;
  }
  return out;
}

/// The events of `out` are exactly `want` (JSON payloads compared as JSON, "[DONE]" as is).
void expect_payloads(const std::string& out, const std::vector<std::string>& want) {
  const std::vector<Ev> got = events_of(out);
  ASSERT_EQ(got.size(), want.size()) << out;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(got[i].event.empty()) << i;
    if (want[i] == "[DONE]") {
      EXPECT_EQ(got[i].data, "[DONE]");
    } else {
      EXPECT_EQ(json::parse(got[i].data, nullptr, false), json::parse(want[i])) << "event " << i;
    }
  }
}

const std::string& openai_stream() {
  static const std::string s = read_fixture("openai/chat_stream_usage.sse");
  return s;
}

// --- an OpenAI upstream ----------------------------------------------------------------------

TEST(StreamRelayOpenAi, RelaysEveryEventButTheUsageChunkWeAskedFor) {
  const Seen s = feed_whole([] { return openai_client(); }, openai_stream());
  std::vector<std::string> want =
      data_lines(openai_stream());  // role, 2 texts, finish, usage, DONE
  ASSERT_EQ(want.size(), 6u);
  want.erase(want.begin() + 4);
  const std::vector<Ev> got = events_of(s.out);
  ASSERT_EQ(got.size(), want.size()) << s.out;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].data, want[i]) << "relayed byte for byte: event " << i;
    EXPECT_TRUE(got[i].event.empty());
  }
  EXPECT_EQ(s.out.find("comment"), std::string::npos);
  EXPECT_TRUE(s.commit_now);
  EXPECT_TRUE(s.done);
  EXPECT_TRUE(s.finished);
  EXPECT_FALSE(s.upstream_error);
  EXPECT_EQ(s.text, "Hello wörld ✓");
  EXPECT_EQ(s.content_events, 3u);  // two texts and the finish
  EXPECT_EQ(s.content_bytes, s.text.size());
  EXPECT_EQ(s.input, 9);
  EXPECT_EQ(s.output, 3);
  EXPECT_EQ(s.cached, 0);
  EXPECT_EQ(s.skipped, 0u);
  EXPECT_FALSE(s.unsafe);
  EXPECT_EQ(s.first_id, "chatcmpl-AbC123");
}

TEST(StreamRelayOpenAi, SplitAnywhereAndAnyLineEndingsChangeNothing) {
  const MakeOptions make = [] { return openai_client(); };
  const Seen lf = feed_whole(make, openai_stream());
  for (std::string_view eol : {"\n", "\r\n", "\r"}) {
    SCOPED_TRACE(::testing::PrintToString(std::string(eol)));
    const std::string bytes = with_line_endings(openai_stream(), eol);
    EXPECT_EQ(feed_whole(make, bytes), lf) << "the client's bytes do not depend on the upstream's";
    expect_split_invariant(make, bytes);
  }
}

TEST(StreamRelayOpenAi, CutAfterSomeEventsKeepsWhatCameAndNoMore) {
  // The fixture's blocks: role, "Hello", a comment, " wörld ✓", the finish, usage, [DONE].
  std::vector<std::string> blocks;
  for (std::size_t at = 0; at < openai_stream().size();) {
    const std::size_t end = openai_stream().find("\n\n", at);
    ASSERT_NE(end, std::string::npos);
    blocks.push_back(openai_stream().substr(at, end + 2 - at));
    at = end + 2;
  }
  ASSERT_EQ(blocks.size(), 7u);
  struct Want {
    std::string text;
    bool commit;
    std::size_t content_events;
    bool finished;
  };
  const std::vector<Want> want = {
      {"", false, 0, false},           {"", false, 0, false},  // the role chunk is not content
      {"Hello", true, 1, false},       {"Hello", true, 1, false}, {"Hello wörld ✓", true, 2, false},
      {"Hello wörld ✓", true, 3, true}};
  for (std::size_t n = 0; n < want.size(); ++n) {
    SCOPED_TRACE(n);
    std::string bytes;
    for (std::size_t i = 0; i < n; ++i) bytes += blocks[i];
    bytes += blocks[n].substr(0, blocks[n].size() / 2);  // the connection broke mid-event
    StreamRelay r(openai_client());
    ASSERT_TRUE(r.feed(bytes, kT0));
    EXPECT_FALSE(r.done);
    EXPECT_FALSE(r.stopped());
    EXPECT_EQ(r.finished, want[n].finished);
    EXPECT_EQ(r.text, want[n].text);
    EXPECT_EQ(r.commit_now, want[n].commit);
    EXPECT_EQ(r.content_events, want[n].content_events);
    EXPECT_EQ(r.out.find("[DONE]"), std::string::npos);
    const std::size_t data_events = n - (n > 2 ? 1 : 0);  // less the comment
    EXPECT_EQ(events_of(r.out).size(), data_events) << "a half event is never relayed";
  }
}

std::string chunk(std::string_view id, std::string_view delta, std::string_view finish = "null") {
  return "data: {\"id\":\"" + std::string(id) +
         "\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{"
         "\"index\":0,\"delta\":" +
         std::string(delta) + ",\"finish_reason\":" + std::string(finish) + "}]}\n\n";
}

TEST(StreamRelayOpenAi, ErrorEventStopsTheRelayWithItsMessage) {
  const std::string bytes =
      chunk("c1", R"({"role":"assistant","content":""})") + chunk("c1", R"({"content":"Hello"})") +
      "data: {\"error\":{\"message\":\"The server had an error while processing your "
      "request.\",\"type\":\"server_error\"}}\n\n" +
      chunk("c1", R"({"content":" after"})") + "data: [DONE]\n\n";
  const MakeOptions make = [] { return openai_client(); };
  const Seen s = feed_whole(make, bytes);
  EXPECT_TRUE(s.upstream_error);
  EXPECT_EQ(s.upstream_error_msg, "The server had an error while processing your request.");
  EXPECT_FALSE(s.done);
  EXPECT_EQ(s.text, "Hello");
  EXPECT_EQ(events_of(s.out).size(), 2u);
  EXPECT_EQ(s.out.find("after"), std::string::npos) << "nothing after the error is relayed";
  EXPECT_EQ(s.out.find("[DONE]"), std::string::npos);
  EXPECT_EQ(s.out.find("server had an error"), std::string::npos)
      << "the relay ends the client's stream its own way (emit_error)";
  expect_split_invariant(make, bytes);
}

TEST(StreamRelayOpenAi, DataThatIsNotJsonIsSkippedAndNeverRelayed) {
  const std::string bytes = chunk("c1", R"({"role":"assistant","content":""})") +
                            "data: this is not json\n\n" + chunk("c1", R"({"content":"Hello"})") +
                            "data: {\"truncated\":\n\n" + chunk("c1", "{}", "\"stop\"") +
                            "data: [DONE]\n\n";
  const Seen s = feed_whole([] { return openai_client(); }, bytes);
  EXPECT_EQ(s.skipped, 2u);
  EXPECT_EQ(s.out.find("not json"), std::string::npos);
  EXPECT_EQ(s.out.find("truncated"), std::string::npos);
  EXPECT_EQ(events_of(s.out).size(), 4u);  // role, Hello, finish, [DONE]
  EXPECT_EQ(s.text, "Hello");
  EXPECT_TRUE(s.done);
  EXPECT_FALSE(s.upstream_error);
}

TEST(StreamRelayOpenAi, UsageChunkReachesOnlyAClientThatAskedForIt) {
  const std::string usage_line = data_lines(openai_stream())[4];
  ASSERT_NE(usage_line.find("\"prompt_tokens\":9"), std::string::npos);
  const Seen asked = feed_whole([] { return openai_client(true); }, openai_stream());
  const std::vector<Ev> a = events_of(asked.out);
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(a[4].data, usage_line);
  const Seen not_asked = feed_whole([] { return openai_client(false); }, openai_stream());
  EXPECT_EQ(events_of(not_asked.out).size(), 5u);
  EXPECT_EQ(not_asked.out.find("prompt_tokens"), std::string::npos);
  // Either way the gateway counts it.
  EXPECT_EQ(not_asked.input, 9);
  EXPECT_EQ(not_asked.output, 3);
  EXPECT_EQ(asked.input, 9);
}

TEST(StreamRelayOpenAi, EventPastTheParserLimitIsMalformed) {
  StreamRelay r(openai_client());
  std::string huge = "data: \"";
  huge.append((4u << 20) + 1, 'x');
  EXPECT_FALSE(r.feed(huge, kT0));
  EXPECT_TRUE(r.out.empty());
}

TEST(StreamRelayOpenAi, ToolCallsReasoningAndOtherChoicesAreUnsafeToContinue) {
  struct Case {
    const char* name;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"tool call", chunk("c", R"({"tool_calls":[{"index":0,"id":"call_1","type":"function",)"
                               R"("function":{"name":"f","arguments":"{}"}}]})")},
      {"reasoning", chunk("c", R"({"reasoning_content":"let me think"})")},
      {"second choice",
       "data: {\"id\":\"c\",\"choices\":[{\"index\":1,\"delta\":{\"content\":\"B\"}}]}\n\n"},
  };
  for (const Case& c : cases) {
    StreamRelay r(openai_client());
    ASSERT_TRUE(r.feed(chunk("c", R"({"content":"A"})") + c.bytes, kT0));
    EXPECT_TRUE(r.unsafe) << c.name;
    EXPECT_EQ(r.text, "A") << c.name;
  }
  StreamRelay plain(openai_client());
  ASSERT_TRUE(plain.feed(chunk("c", R"({"content":"A"})") + chunk("c", R"({"content":"B"})"), kT0));
  EXPECT_FALSE(plain.unsafe);
}

// --- an Anthropic upstream -------------------------------------------------------------------

const std::string& anthropic_stream() {
  static const std::string s = read_fixture("anthropic/stream_text.sse");
  return s;
}

TEST(StreamRelayAnthropic, TranscodedForAnOpenAiClient) {
  const std::vector<std::string> want =
      non_empty_lines(read_fixture("anthropic/stream_text.openai.txt"));
  ASSERT_EQ(want.size(), 6u);
  const Seen asked = feed_whole([] { return from_anthropic(true); }, anthropic_stream());
  expect_payloads(asked.out, want);
  std::vector<std::string> without_usage = want;
  without_usage.erase(without_usage.begin() + 4);  // the usage-only chunk
  const Seen s = feed_whole([] { return from_anthropic(false); }, anthropic_stream());
  expect_payloads(s.out, without_usage);
  EXPECT_TRUE(s.commit_now);
  EXPECT_TRUE(s.done);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(s.text, "Hello! Grüße aus Paris ✓");
  EXPECT_EQ(s.input, 25 + 1024);
  EXPECT_EQ(s.cached, 1024);
  EXPECT_EQ(s.output, 15);
  EXPECT_EQ(s.first_id, "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
  EXPECT_EQ(s.skipped, 0u);
}

TEST(StreamRelayAnthropic, SplitAnywhereChangesNothing) {
  const MakeOptions make = [] { return from_anthropic(true); };
  for (std::string_view eol : {"\n", "\r\n"}) {
    SCOPED_TRACE(::testing::PrintToString(std::string(eol)));
    expect_split_invariant(make, with_line_endings(anthropic_stream(), eol));
  }
}

TEST(StreamRelayAnthropic, ErrorEventMidStream) {
  const std::string bytes = read_fixture("anthropic/stream_error.sse");
  const MakeOptions make = [] { return from_anthropic(); };
  const Seen s = feed_whole(make, bytes);
  EXPECT_TRUE(s.upstream_error);
  EXPECT_EQ(s.upstream_error_msg, "Overloaded");
  EXPECT_FALSE(s.done);
  EXPECT_TRUE(s.commit_now);
  EXPECT_EQ(s.text, "Once upon");
  EXPECT_EQ(events_of(s.out).size(), 2u);  // role and "Once upon"
  EXPECT_EQ(s.out.find("Overloaded"), std::string::npos);
  expect_split_invariant(make, bytes);
}

TEST(StreamRelayAnthropic, RawToAnAnthropicClientIsTheUpstreamsOwnEvents) {
  const MakeOptions make = [] {
    StreamRelay::Options o = from_anthropic();
    o.raw = true;
    o.own_writer =
        std::make_unique<adapters::messages_front::EventWriter>(kAnthropicModel, "msg_req-test");
    return o;
  };
  StreamRelay r(make());
  ASSERT_TRUE(r.feed(anthropic_stream(), kT0));
  EXPECT_EQ(r.out, anthropic_stream()) << "byte for byte, nothing of the shadow writer's";
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.text, "Hello! Grüße aus Paris ✓");
  EXPECT_EQ(r.usage.output_tokens, 15);
  // The shadow writer followed: a rescue taking over would not start the message again.
  ASSERT_NE(r.writer(), nullptr);
  std::string takeover;
  r.writer()->on_done(takeover);
  EXPECT_EQ(takeover.find("message_start"), std::string::npos) << takeover;
  EXPECT_NE(takeover.find("content_block_stop"), std::string::npos) << "its text block is open";
  EXPECT_NE(takeover.find("message_stop"), std::string::npos);
}

// --- a Gemini upstream -----------------------------------------------------------------------

const std::string& gemini_stream() {
  static const std::string s = read_fixture("gemini/stream_text.sse");
  return s;
}

std::vector<std::string> gemini_expected() {
  std::vector<std::string> want;
  for (const json& p : json::parse(read_fixture("gemini/stream_text.expected.json"))) {
    want.push_back(p.is_string() ? p.get<std::string>() : p.dump());
  }
  return want;
}

TEST(StreamRelayGemini, TheStreamEndsWithItsBody) {
  StreamRelay r(from_gemini(true));
  ASSERT_TRUE(r.feed(gemini_stream(), kT0));
  EXPECT_TRUE(r.finished);
  EXPECT_FALSE(r.done) << "Gemini has no terminating event";
  EXPECT_FALSE(r.stopped());
  EXPECT_EQ(r.out.find("[DONE]"), std::string::npos);
  r.body_ended(kT0);
  EXPECT_TRUE(r.done);
  expect_payloads(r.out, gemini_expected());
  EXPECT_EQ(r.text, "The quick brown fox jumps. éè ✓");
  EXPECT_EQ(r.usage.input_tokens, 10);
  EXPECT_EQ(r.usage.output_tokens, 10);  // candidates and thoughts
  EXPECT_FALSE(r.unsafe) << "thought parts are not relayed";
  const std::string once = r.out;
  r.body_ended(kT0);
  EXPECT_EQ(r.out, once) << "the end is relayed once";

  expect_split_invariant([] { return from_gemini(true); }, gemini_stream(), true);
}

TEST(StreamRelayGemini, BodyEndingBeforeTheFinishIsNotDone) {
  const std::size_t third = gemini_stream().rfind("data: ");
  StreamRelay r(from_gemini());
  ASSERT_TRUE(r.feed(std::string_view(gemini_stream()).substr(0, third), kT0));
  r.body_ended(kT0);
  EXPECT_FALSE(r.done);
  EXPECT_FALSE(r.finished);
  EXPECT_EQ(r.text, "The quick brown");
  EXPECT_EQ(r.out.find("[DONE]"), std::string::npos);
}

TEST(StreamRelayGemini, BodyEndedIsNothingForAnOpenAiStream) {
  StreamRelay r(openai_client());
  const std::string part = chunk("c", R"({"content":"A"})");
  ASSERT_TRUE(r.feed(part, kT0));
  r.body_ended(kT0);
  EXPECT_EQ(r.out, part);
  EXPECT_FALSE(r.done);
}

// --- a continuation (stream rescue) ----------------------------------------------------------

std::string continuation_stream() {
  return chunk("chatcmpl-SECOND", R"({"role":"assistant","content":""})") +
         chunk("chatcmpl-SECOND", R"({"content":" upon a time"})") +
         chunk("chatcmpl-SECOND", R"({"content":" there"})") +
         chunk("chatcmpl-SECOND", "{}", "\"stop\"") +
         "data: {\"id\":\"chatcmpl-SECOND\",\"object\":\"chat.completion.chunk\",\"created\":1,"
         "\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":5,"
         "\"total_tokens\":25}}\n\n"
         "data: [DONE]\n\n";
}

StreamRelay::Options continuation(bool include_usage, std::string skip_ws) {
  StreamRelay::Options o = openai_client(include_usage);
  o.continuation = true;
  o.client_id = "chatcmpl-FIRST";
  o.skip_ws = std::move(skip_ws);
  o.prefill_chunks = 4;
  return o;
}

TEST(StreamRelayContinuation, ReadsAsTheSameAnswerToTheClient) {
  StreamRelay r(continuation(true, " "));
  ASSERT_TRUE(r.feed(continuation_stream(), kT0));
  const std::vector<Ev> evs = events_of(r.out);
  ASSERT_EQ(evs.size(), 5u) << r.out;  // two texts, finish, usage, [DONE]: no role chunk
  EXPECT_EQ(r.out.find("\"role\""), std::string::npos);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(json::parse(evs[i].data)["id"], "chatcmpl-FIRST") << "event " << i;
  }
  EXPECT_EQ(json::parse(evs[0].data)["choices"][0]["delta"]["content"], "upon a time")
      << "the whitespace the prefill lost is not repeated";
  EXPECT_EQ(json::parse(evs[1].data)["choices"][0]["delta"]["content"], " there")
      << "stripped once only";
  const json usage = json::parse(evs[3].data)["usage"];
  EXPECT_EQ(usage["prompt_tokens"], 16);  // 20 less the 4 prefill chunks
  EXPECT_EQ(usage["completion_tokens"], 9);
  EXPECT_EQ(usage["total_tokens"], 25);
  EXPECT_EQ(evs[4].data, "[DONE]");
  EXPECT_EQ(r.text, "upon a time there");
  EXPECT_EQ(r.content_events, 3u);
  EXPECT_TRUE(r.done);

  StreamRelay quiet(continuation(false, " "));
  ASSERT_TRUE(quiet.feed(continuation_stream(), kT0));
  EXPECT_EQ(events_of(quiet.out).size(), 4u);
  EXPECT_EQ(quiet.out.find("usage"), std::string::npos);
}

TEST(StreamRelayContinuation, WhitespaceIsStrippedOnlyWhereTheReplyRepeatsIt) {
  StreamRelay r(continuation(false, "\n"));
  ASSERT_TRUE(r.feed(chunk("chatcmpl-SECOND", R"({"content":"Next"})") +
                         chunk("chatcmpl-SECOND", R"({"content":"\nline"})"),
                     kT0));
  EXPECT_EQ(r.text, "Next\nline");
}

TEST(StreamRelayContinuation, AnAnthropicClientsMessageGoesOn) {
  adapters::messages_front::EventWriter w("m", "msg_req-test");
  std::string first;  // what the first attempt wrote
  w.on_chunk(chunk("chatcmpl-FIRST", R"({"role":"assistant","content":"Once"})").substr(6), first);
  ASSERT_NE(first.find("message_start"), std::string::npos);
  StreamRelay::Options o = continuation(false, " ");
  o.writer = &w;
  StreamRelay r(std::move(o));
  ASSERT_TRUE(r.feed(continuation_stream(), kT0));
  EXPECT_EQ(r.out.find("message_start"), std::string::npos);
  EXPECT_EQ(r.out.find("content_block_start"), std::string::npos) << "the text block goes on";
  const std::vector<Ev> evs = events_of(r.out);
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs.front().event, "content_block_delta");
  EXPECT_EQ(json::parse(evs.front().data)["delta"]["text"], "upon a time");
  EXPECT_EQ(evs.back().event, "message_stop");
}

// --- the end of the client's stream ----------------------------------------------------------

TEST(StreamRelayEnd, ErrorForAnOpenAiClientIsADataEventWithoutDone) {
  StreamRelay r(openai_client());
  r.emit_error("The upstream stream broke.", "upstream_reset");
  const std::vector<Ev> evs = events_of(r.out);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_TRUE(evs[0].event.empty());
  const json j = json::parse(evs[0].data);
  EXPECT_EQ(j["error"]["message"], "The upstream stream broke.");
  EXPECT_EQ(j["error"]["type"], "upstream_error");
  EXPECT_EQ(j["error"]["code"], "upstream_reset");
  EXPECT_EQ(r.out.find("[DONE]"), std::string::npos);

  StreamRelay d(openai_client());
  d.emit_done();
  EXPECT_EQ(d.out, "data: [DONE]\n\n");
}

TEST(StreamRelayEnd, ErrorForAnAnthropicClientIsAnErrorEvent) {
  auto check = [](StreamRelay& r) {
    r.emit_error("The upstream stream broke.", "upstream_reset");
    const std::vector<Ev> evs = events_of(r.out);
    ASSERT_EQ(evs.size(), 1u) << r.out;
    EXPECT_EQ(evs[0].event, "error");
    const json j = json::parse(evs[0].data);
    EXPECT_EQ(j["type"], "error");
    EXPECT_EQ(j["error"]["type"], "api_error");
    EXPECT_EQ(j["error"]["message"], "The upstream stream broke.");
  };
  StreamRelay::Options translated;
  translated.own_writer = std::make_unique<adapters::messages_front::EventWriter>("m", "msg_1");
  StreamRelay t(std::move(translated));
  ASSERT_NE(t.writer(), nullptr);
  check(t);
  StreamRelay::Options raw = from_anthropic();
  raw.raw = true;
  StreamRelay r(std::move(raw));
  check(r);

  StreamRelay::Options raw_done = from_anthropic();
  raw_done.raw = true;
  StreamRelay rd(std::move(raw_done));
  rd.emit_done();
  EXPECT_EQ(rd.out, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

}  // namespace
}  // namespace switchyard::upstream
