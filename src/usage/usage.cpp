#include "switchyard/usage/usage.hpp"

#include <algorithm>

namespace switchyard::usage {

std::string_view name_of(Provenance p) {
  return p == Provenance::provider ? "provider" : "estimated";
}

std::int64_t estimate_tokens(std::size_t text_bytes) {
  return static_cast<std::int64_t>((text_bytes + 3) / 4);
}

double cost_usd(const Usage& u, const config::Price& price) {
  const double cached_price = price.cached_input >= 0 ? price.cached_input : price.input;
  const double write_price = price.cache_write >= 0 ? price.cache_write : price.input;
  const auto n = [](std::int64_t v) { return static_cast<double>(std::max<std::int64_t>(v, 0)); };
  const double cached = n(u.cached_input_tokens);
  const double written = n(u.cache_write_tokens);
  const double plain = std::max(0.0, n(u.input_tokens) - cached - written);
  return (plain * price.input + cached * cached_price + written * write_price +
          n(u.output_tokens) * price.output) /
         1e6;
}

void Ledger::apply_locked(Record&& r) {
  auto it = std::find_if(totals_.begin(), totals_.end(),
                         [&](const Totals& t) { return t.deployment == r.deployment; });
  if (it == totals_.end()) {
    totals_.push_back(Totals{r.deployment});
    it = totals_.end() - 1;
  }
  ++it->answers;
  it->input_tokens += std::max<std::int64_t>(r.tokens.input_tokens, 0);
  it->output_tokens += std::max<std::int64_t>(r.tokens.output_tokens, 0);
  it->cached_input_tokens += r.tokens.cached_input_tokens;
  if (r.provenance == Provenance::estimated) ++it->estimated_answers;
  it->cost_usd += r.cost_usd;
  recent_.push_back(std::move(r));
  if (recent_.size() > kRecent) recent_.pop_front();
}

void Ledger::add(Batch& batch, Record r) {
  batch.records.push_back(std::move(r));
  if (batch.records.size() >= kBatchRecords) submit(batch);
}

void Ledger::submit(Batch& batch) {
  if (batch.records.empty()) return;
  {
    std::lock_guard lock(mu_);
    for (Record& r : batch.records) apply_locked(std::move(r));
  }
  batch.records.clear();  // keeps its capacity: the next batch does not allocate it again
}

std::vector<Record> Ledger::recent(std::size_t limit) const {
  std::lock_guard lock(mu_);
  const std::size_t n = std::min(limit, recent_.size());
  return std::vector<Record>(recent_.end() - static_cast<std::ptrdiff_t>(n), recent_.end());
}

std::vector<Ledger::Totals> Ledger::totals() const {
  std::lock_guard lock(mu_);
  return totals_;
}

}  // namespace switchyard::usage
