#include "switchyard/sse/sse_parser.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace switchyard::sse {
namespace {

std::string read_fixture(const std::string& name) {
  std::ifstream f(std::string(SWITCHYARD_FIXTURES) + "/" + name, std::ios::binary);
  EXPECT_TRUE(f.good()) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string to_crlf(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

// Feeds `text` in pieces cut at the given offsets and collects every event's data.
std::vector<std::string> parse_split(const std::string& text, std::vector<std::size_t> cuts) {
  Parser p;
  Event ev;
  std::vector<std::string> out;
  std::size_t at = 0;
  cuts.push_back(text.size());
  for (std::size_t cut : cuts) {
    p.feed(std::string_view(text).substr(at, cut - at));
    at = cut;
    while (p.next(ev) == Parser::Status::event) out.push_back(ev.data);
  }
  return out;
}

TEST(SseParser, RecordedOpenAiStreamYieldsEveryEvent) {
  auto events = parse_split(read_fixture("openai/chat_stream_usage.sse"), {});
  ASSERT_EQ(events.size(), 6u);
  EXPECT_NE(events[1].find("\"Hello\""), std::string::npos);
  EXPECT_NE(events[2].find("wörld ✓"), std::string::npos);
  EXPECT_EQ(events[5], "[DONE]");
}

TEST(SseParser, SplitAtEveryByteOffsetGivesTheSameEvents) {
  for (bool crlf : {false, true}) {
    std::string text = read_fixture("openai/chat_stream_usage.sse");
    if (crlf) text = to_crlf(text);
    auto whole = parse_split(text, {});
    ASSERT_EQ(whole.size(), 6u);
    for (std::size_t cut = 1; cut < text.size(); ++cut) {
      ASSERT_EQ(parse_split(text, {cut}), whole) << "cut at " << cut << " crlf=" << crlf;
    }
  }
}

TEST(SseParser, ByteByByteFeeding) {
  std::string text = to_crlf(read_fixture("openai/chat_stream_usage.sse"));
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < text.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(parse_split(text, cuts), parse_split(text, {}));
}

TEST(SseParser, SeveralEventsInOneRead) {
  auto ev = parse_split("data: a\n\ndata: b\n\ndata: c\n\n", {});
  EXPECT_EQ(ev, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(SseParser, BareCrLineEndingsAndCrSplitFromLf) {
  EXPECT_EQ(parse_split("data: x\r\rdata: y\r\r", {}), (std::vector<std::string>{"x", "y"}));
  // "\r" ends one read, "\n" starts the next: still one line ending, not two.
  EXPECT_EQ(parse_split("data: x\r\n\r\ndata: y\r\n\r\n", {7, 8, 9}),
            (std::vector<std::string>{"x", "y"}));
}

TEST(SseParser, MultiLineDataJoinedWithNewline) {
  EXPECT_EQ(parse_split("data: one\ndata: two\ndata:three\n\n", {}),
            (std::vector<std::string>{"one\ntwo\nthree"}));
}

TEST(SseParser, CommentsAndEventNamesAndIds) {
  Parser p;
  p.feed(": ping\n\nevent: message_start\nid: 7\nretry: 100\ndata: {}\n\n");
  Event ev;
  ASSERT_EQ(p.next(ev), Parser::Status::event);
  EXPECT_EQ(ev.event, "message_start");
  EXPECT_EQ(ev.id, "7");
  EXPECT_EQ(ev.data, "{}");
  EXPECT_EQ(p.next(ev), Parser::Status::need_more);
  EXPECT_TRUE(p.idle());
}

TEST(SseParser, EventWithoutDataIsNotDispatched) {
  EXPECT_TRUE(parse_split("event: ping\n\n: only a comment\n\n", {}).empty());
}

TEST(SseParser, IncompleteEventIsHeldUntilTheBlankLine) {
  Parser p;
  Event ev;
  p.feed("data: partial");
  EXPECT_EQ(p.next(ev), Parser::Status::need_more);
  EXPECT_FALSE(p.idle());
  p.feed("\n");
  EXPECT_EQ(p.next(ev), Parser::Status::need_more);
  p.feed("\n");
  ASSERT_EQ(p.next(ev), Parser::Status::event);
  EXPECT_EQ(ev.data, "partial");
}

TEST(SseParser, OversizedEventIsReported) {
  Parser p(64);
  Event ev;
  p.feed("data: " + std::string(100, 'x'));
  EXPECT_EQ(p.next(ev), Parser::Status::too_large);
  Parser q(64);
  q.feed("data: " + std::string(40, 'x') + "\ndata: " + std::string(40, 'y') + "\n");
  EXPECT_EQ(q.next(ev), Parser::Status::too_large);
}

// A long line arriving in many reads (issue 13, defect 2: it was rescanned from its start at
// every read). Correctness here; the cost is linear by construction (each byte searched once).
TEST(SseParser, LongLineInManySmallReadsIsOneEvent) {
  Parser p(4u << 20);
  Event ev;
  const std::string payload(3u << 20, 'x');
  p.feed("event: big\ndata: ");
  for (std::size_t i = 0; i < payload.size(); i += 16384) {
    p.feed(std::string_view(payload).substr(i, 16384));
    ASSERT_EQ(p.next(ev), Parser::Status::need_more);
  }
  p.feed("\r");  // a CR at the end of a read, its LF in the next
  ASSERT_EQ(p.next(ev), Parser::Status::need_more);
  p.feed("\n\ndata: after\n\n");
  ASSERT_EQ(p.next(ev), Parser::Status::event);
  EXPECT_EQ(ev.event, "big");
  EXPECT_EQ(ev.data, payload);
  ASSERT_EQ(p.next(ev), Parser::Status::event);
  EXPECT_EQ(ev.data, "after");
  EXPECT_EQ(p.next(ev), Parser::Status::need_more);
}

TEST(SseParser, LongLineOverTheLimitInSmallReadsIsTooLarge) {
  Parser p(1u << 20);
  Event ev;
  const std::string chunk(16384, 'y');
  p.feed("data: ");
  Parser::Status st = Parser::Status::need_more;
  std::size_t fed = 0;
  while (st == Parser::Status::need_more && fed < (2u << 20)) {
    p.feed(chunk);
    fed += chunk.size();
    st = p.next(ev);
  }
  EXPECT_EQ(st, Parser::Status::too_large);
  EXPECT_LE(fed, (1u << 20) + chunk.size()) << "refused as soon as it passed the limit";
}

// Events consumed before a long partial line, then compaction while it grows.
TEST(SseParser, PartialLineSurvivesCompaction) {
  Parser p;
  Event ev;
  std::string events;
  for (int i = 0; i < 200; ++i) events += "data: " + std::to_string(i) + "\n\n";
  p.feed(events + "data: tail-");
  for (int i = 0; i < 200; ++i) ASSERT_EQ(p.next(ev), Parser::Status::event);
  ASSERT_EQ(p.next(ev), Parser::Status::need_more);
  const std::string more(10000, 'z');
  p.feed(more);  // compacts: the consumed events go, the scan position moves with them
  ASSERT_EQ(p.next(ev), Parser::Status::need_more);
  p.feed("!\n\n");
  ASSERT_EQ(p.next(ev), Parser::Status::event);
  EXPECT_EQ(ev.data, "tail-" + more + "!");
}

TEST(SseParser, LongStreamDoesNotGrowWithoutBound) {
  Parser p;
  Event ev;
  std::size_t n = 0;
  for (int i = 0; i < 20000; ++i) {
    p.feed("data: {\"i\":" + std::to_string(i) + "}\n\n");
    while (p.next(ev) == Parser::Status::event) ++n;
  }
  EXPECT_EQ(n, 20000u);
  EXPECT_TRUE(p.idle());
}

}  // namespace
}  // namespace switchyard::sse
