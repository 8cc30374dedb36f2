#include "switchyard/sse/sse_parser.hpp"

#include <algorithm>

namespace switchyard::sse {

void Parser::feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
    scanned_ = 0;
  } else if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    // Compact: keep the unconsumed tail only, so a long stream does not grow the buffer.
    buf_.erase(0, pos_);
    scanned_ = scanned_ > pos_ ? scanned_ - pos_ : 0;
    pos_ = 0;
  }
  buf_.append(bytes);
}

Parser::Status Parser::next(Event& out) {
  for (;;) {
    if (skip_lf_ && pos_ < buf_.size()) {
      if (buf_[pos_] == '\n') ++pos_;
      skip_lf_ = false;
    }
    // Search only bytes not searched before: a long unfinished line arriving in many reads
    // is scanned once, not once per read (which was quadratic in its length).
    std::size_t eol = buf_.find_first_of("\r\n", std::max(pos_, scanned_));
    if (eol == std::string::npos) {
      scanned_ = buf_.size();
      if (buf_.size() - pos_ + cur_.data.size() > max_event_bytes_) return Status::too_large;
      return Status::need_more;
    }
    std::string_view line(buf_.data() + pos_, eol - pos_);
    if (buf_[eol] == '\r') {
      if (eol + 1 < buf_.size()) {
        pos_ = eol + (buf_[eol + 1] == '\n' ? 2 : 1);
      } else {
        pos_ = eol + 1;
        skip_lf_ = true;  // a '\n' may start the next read
      }
    } else {
      pos_ = eol + 1;
    }
    if (line.empty()) {
      // Blank line: dispatch. An event with no data field is dropped (WHATWG).
      bool had_data = has_data_;
      has_data_ = false;
      has_fields_ = false;
      if (had_data) {
        out = std::move(cur_);
        cur_.clear();
        return Status::event;
      }
      cur_.clear();
      continue;
    }
    process_line(line);
    if (cur_.data.size() > max_event_bytes_) return Status::too_large;
  }
}

void Parser::process_line(std::string_view line) {
  if (line.front() == ':') return;  // comment
  std::string_view field = line, value;
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  has_fields_ = true;
  if (field == "data") {
    if (has_data_) cur_.data.push_back('\n');
    cur_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    cur_.event.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) cur_.id.assign(value);
  }
  // "retry" and unknown fields are ignored, as the spec says.
}

}  // namespace switchyard::sse
