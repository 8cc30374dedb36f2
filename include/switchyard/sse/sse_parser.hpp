#pragma once
// Incremental Server-Sent Events parser (WHATWG event-stream rules), shared by the
// relay and the provider adapters. Bytes may be split anywhere, several events may
// arrive in one read, lines may end in LF, CRLF or CR, comment lines are skipped.
// Not thread-safe: one parser per upstream attempt, used on its worker thread.

#include <cstddef>
#include <string>
#include <string_view>

namespace switchyard::sse {

struct Event {
  std::string event;  ///< "event:" field; empty means the default "message"
  std::string data;   ///< "data:" lines joined with '\n'
  std::string id;     ///< "id:" field, if any
  void clear() {
    event.clear();
    data.clear();
    id.clear();
  }
};

class Parser {
 public:
  enum class Status { event, need_more, too_large };

  /// max_event_bytes bounds the memory one event (or one unterminated line) may use.
  explicit Parser(std::size_t max_event_bytes = 4u << 20) : max_event_bytes_(max_event_bytes) {}

  /// Appends received bytes. Call next() until it returns need_more.
  void feed(std::string_view bytes);

  /// Extracts the next complete event into `out`.
  Status next(Event& out);

  /// True when nothing (not even part of a line or an undispatched field) is buffered.
  bool idle() const { return pos_ == buf_.size() && !has_fields_; }

 private:
  void process_line(std::string_view line);

  std::string buf_;
  std::size_t pos_ = 0;
  std::size_t scanned_ = 0;  // buf_ up to here holds no line end after pos_
  bool skip_lf_ = false;     // last line ended in a bare CR at the end of a read
  bool has_data_ = false;
  bool has_fields_ = false;
  Event cur_;
  std::size_t max_event_bytes_;
};

}  // namespace switchyard::sse
