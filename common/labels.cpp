#include "common/labels.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace plumbline {

namespace {

bool IsNameStart(char c, bool colon_ok) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
}
bool IsNameChar(char c, bool colon_ok) {
  return IsNameStart(c, colon_ok) || (c >= '0' && c <= '9');
}

// Shows a hostile value safely in an error message.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 64)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  if (s.size() > 64) out += "...";
  return out + "\"";
}

absl::Status ValidateName(std::string_view what, std::string_view name, size_t max, bool colon_ok) {
  if (name.empty()) return absl::InvalidArgumentError(StrCat("empty ", what));
  if (name.size() > max) {
    return absl::InvalidArgumentError(StrCat(what, " longer than ", max, " bytes: ", Quote(name)));
  }
  if (!IsNameStart(name[0], colon_ok)) {
    return absl::InvalidArgumentError(StrCat("invalid ", what, " ", Quote(name)));
  }
  for (char c : name) {
    if (!IsNameChar(c, colon_ok)) {
      return absl::InvalidArgumentError(StrCat("invalid ", what, " ", Quote(name)));
    }
  }
  return absl::OkStatus();
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and out-of-range code points.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace

absl::Status ValidateMetricName(std::string_view name) {
  return ValidateName("metric name", name, kMaxMetricNameLength, true);
}

absl::Status ValidateLabelName(std::string_view name) {
  RETURN_IF_ERROR(ValidateName("label name", name, kMaxLabelNameLength, false));
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') {
    return absl::InvalidArgumentError(StrCat("reserved label name ", Quote(name)));
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelValue(std::string_view value) {
  if (value.size() > kMaxLabelValueLength) {
    return absl::InvalidArgumentError(
        StrCat("label value longer than ", kMaxLabelValueLength, " bytes: ", Quote(value)));
  }
  if (!IsValidUtf8(value)) {
    return absl::InvalidArgumentError(StrCat("label value is not UTF-8: ", Quote(value)));
  }
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
      return absl::InvalidArgumentError(StrCat("control character in label value ", Quote(value)));
    }
  }
  return absl::OkStatus();
}

absl::Status SortLabels(LabelSet* labels) {
  std::sort(labels->begin(), labels->end());
  for (size_t i = 1; i < labels->size(); ++i) {
    if ((*labels)[i].first == (*labels)[i - 1].first) {
      return absl::InvalidArgumentError(StrCat("duplicate label name ", Quote((*labels)[i].first)));
    }
  }
  return absl::OkStatus();
}

std::string CanonicalLabels(const LabelSet& sorted_labels) {
  std::string out;
  for (const auto& [name, value] : sorted_labels) {
    if (!out.empty()) out.push_back(',');
    StrAppend(&out, name, "=\"");
    for (char c : value) {
      if (c == '\\') {
        out += "\\\\";
      } else if (c == '"') {
        out += "\\\"";
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out.push_back(c);
      }
    }
    out.push_back('"');
  }
  return out;
}

absl::StatusOr<LabelSet> ParseCanonicalLabels(std::string_view text) {
  LabelSet labels;
  size_t i = 0;
  while (i < text.size()) {
    size_t eq = text.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= text.size() || text[eq + 1] != '"') {
      return absl::DataLossError(StrCat("malformed label set at byte ", i));
    }
    std::string name(text.substr(i, eq - i));
    std::string value;
    size_t j = eq + 2;
    bool closed = false;
    while (j < text.size()) {
      char c = text[j++];
      if (c == '"') {
        closed = true;
        break;
      }
      if (c == '\\' && j < text.size()) {
        char e = text[j++];
        value.push_back(e == 'n' ? '\n' : e);
      } else {
        value.push_back(c);
      }
    }
    if (!closed) return absl::DataLossError("unterminated label value");
    labels.emplace_back(std::move(name), std::move(value));
    if (j < text.size()) {
      if (text[j] != ',') return absl::DataLossError(StrCat("expected ',' at byte ", j));
      ++j;
    }
    i = j;
  }
  return labels;
}

std::string SanitizeLabelName(std::string_view name) {
  std::string out(name);
  for (size_t i = 0; i < out.size(); ++i) {
    if (!IsNameChar(out[i], false) || (i == 0 && !IsNameStart(out[i], false))) out[i] = '_';
  }
  if (out.empty())
    out.push_back('_');  // not out = "_": GCC 12 -Wrestrict false positive (PR 105651)
  return out;
}

}  // namespace plumbline
