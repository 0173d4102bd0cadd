#include "perfmamba/io/pickle.hpp"

#include <bit>
#include <cstring>
#include <unordered_map>

#include "perfmamba/core/error.hpp"

namespace perfmamba {
namespace {
using Kind = PyValue::Kind;

constexpr int kMaxDepth = 100;             // a state dict nests 3 or 4 deep
constexpr size_t kMaxStack = 1 << 22;      // values on the stack at once
constexpr size_t kMaxMemo = 1 << 22;

// The only globals a checkpoint may name: storage types (values) and the calls below.
DType storage_dtype(const std::string& name, bool& ok) {
  static const std::unordered_map<std::string, DType> kStorages = {
      {"torch.FloatStorage", DType::F32}, {"torch.HalfStorage", DType::F16},
      {"torch.BFloat16Storage", DType::BF16}, {"torch.DoubleStorage", DType::F64},
      {"torch.LongStorage", DType::I64}, {"torch.IntStorage", DType::I32},
      {"torch.BoolStorage", DType::Bool}, {"torch.ByteStorage", DType::U8}};
  auto it = kStorages.find(name);
  ok = it != kStorages.end();
  return ok ? it->second : DType::F32;
}
bool allowed_call(const std::string& name) {
  return name == "collections.OrderedDict" || name == "torch._utils._rebuild_tensor_v2" ||
         name == "torch._utils._rebuild_parameter";
}

class Unpickler {
 public:
  Unpickler(const uint8_t* d, size_t n, const std::string& f) : data_(d), size_(n), file_(f) {}

  PyRef run() {
    while (true) {
      op_at_ = pos_;
      const uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;        // PROTO
        case 0x95: take(8); break;       // FRAME
        case '.': return finish();       // STOP
        case '(': marks_.push_back(stack_.size()); break;
        case '}': push(make(Kind::Dict)); break;
        case ']': push(make(Kind::List)); break;
        case ')': push(make(Kind::Tuple)); break;
        case 'N': push(make(Kind::None)); break;
        case 0x88: case 0x89: { auto v = make(Kind::Bool); v->i = op == 0x88; push(v); break; }
        case 'K': push(integer(byte())); break;
        case 'M': push(integer(int64_t(le(2)))); break;
        case 'J': push(integer(int64_t(int32_t(uint32_t(le(4)))))); break;
        case 0x8a: push(long1()); break;
        case 'G': { auto v = make(Kind::Float); v->f = std::bit_cast<double>(be64()); push(v); break; }
        case 'X': push(str(size_t(le(4)))); break;
        case 0x8c: push(str(byte())); break;
        case 'c': { std::string m = line(), n = line(); push(global(m + "." + n)); break; }
        case 0x93: { auto n = pop(), m = pop(); need(m->kind == Kind::Str && n->kind == Kind::Str, "STACK_GLOBAL needs two strings"); push(global(m->s + "." + n->s)); break; }
        case 'q': memo(byte()); break;
        case 'r': memo(le(4)); break;
        case 0x94: memo(memo_next_); break;
        case 'h': push(get(byte())); break;
        case 'j': push(get(le(4))); break;
        case 't': push(container(Kind::Tuple, pop_mark())); break;
        case 0x85: case 0x86: case 0x87: {
          std::vector<PyRef> v(size_t(op - 0x84));
          for (size_t k = v.size(); k-- > 0;) v[k] = pop();
          push(container(Kind::Tuple, std::move(v)));
          break;
        }
        case 'l': push(container(Kind::List, pop_mark())); break;
        case 'd': { auto d = container(Kind::Dict, pop_mark()); need(d->items.size() % 2 == 0, "odd DICT"); push(d); break; }
        case 'a': { auto v = pop(); append(top(), {v}); break; }
        case 'e': { auto v = pop_mark(); append(top(), std::move(v)); break; }
        case 's': { auto v = pop(), k = pop(); set_items(top(), {k, v}); break; }
        case 'u': { auto v = pop_mark(); need(v.size() % 2 == 0, "odd SETITEMS"); set_items(top(), std::move(v)); break; }
        case 'Q': push(persistent(pop())); break;
        case 'R': { auto args = pop(), fn = pop(); push(call(fn, args)); break; }
        case 'b': {  // BUILD: only an OrderedDict's attribute dict (torch's `_metadata`), ignored
          auto state = pop();
          need(top()->kind == Kind::Dict, "BUILD on something other than a dict");
          break;
        }
        default:
          fail("opcode 0x" + hex(op) + " is not allowed in a checkpoint");
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(file_, "pickle at byte " + std::to_string(op_at_), what);
  }
  void need(bool c, const std::string& what) const { if (!c) fail(what); }
  static std::string hex(unsigned v) { const char* d = "0123456789abcdef"; return {d[v >> 4], d[v & 15]}; }

  const uint8_t* take(size_t n) {
    need(n <= size_ - pos_, "truncated");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint8_t byte() { return *take(1); }
  uint64_t le(int n) { const uint8_t* p = take(size_t(n)); uint64_t v = 0; for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i]; return v; }
  uint64_t be64() { const uint8_t* p = take(8); uint64_t v = 0; for (int i = 0; i < 8; ++i) v = (v << 8) | p[i]; return v; }
  std::string line() {
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    need(nl != nullptr, "truncated GLOBAL");
    const size_t n = size_t(static_cast<const uint8_t*>(nl) - (data_ + pos_));
    std::string s(reinterpret_cast<const char*>(take(n)), n);
    take(1);
    return s;
  }

  PyRef make(Kind k) {
    auto p = std::make_shared<PyValue>();
    p->kind = k;
    return p;
  }
  PyRef integer(int64_t v) { auto p = make(Kind::Int); p->i = v; return p; }
  PyRef str(size_t n) { auto p = make(Kind::Str); p->s.assign(reinterpret_cast<const char*>(take(n)), n); return p; }
  PyRef long1() {
    const size_t n = byte();
    need(n <= 8, "integer wider than 64 bits");
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    if (n && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    return integer(int64_t(v));
  }
  PyRef global(const std::string& name) {
    bool storage = false;
    storage_dtype(name, storage);
    need(storage || allowed_call(name), "global '" + name + "' is not allowed (refusing to run code)");
    auto p = make(Kind::Global);
    p->s = name;
    return p;
  }
  PyRef container(Kind k, std::vector<PyRef> items) {
    auto p = make(k);
    p->items = std::move(items);
    for (const auto& c : p->items) {
      p->depth = std::max(p->depth, c->depth + 1);
      c->frozen = true;
    }
    need(p->depth <= kMaxDepth, "nesting deeper than " + std::to_string(kMaxDepth));
    return p;
  }
  // Pickle writes a container's items before nesting it, so changing a nested container only
  // happens in recursive structures, which would defeat the depth bound (and could be cycles).
  void grow(const PyRef& c, const std::vector<PyRef>& add) {
    need(!c->frozen, "a container is changed after being nested (recursive structure)");
    for (const auto& v : add) {
      need(v != c, "a container is put inside itself");
      c->depth = std::max(c->depth, v->depth + 1);
      v->frozen = true;
    }
    need(c->depth <= kMaxDepth, "nesting deeper than " + std::to_string(kMaxDepth));
    c->items.insert(c->items.end(), add.begin(), add.end());
  }
  void append(const PyRef& c, std::vector<PyRef> v) { need(c->kind == Kind::List, "APPEND to a non-list"); grow(c, v); }
  void set_items(const PyRef& c, std::vector<PyRef> kv) { need(c->kind == Kind::Dict, "SETITEM on a non-dict"); grow(c, kv); }

  void push(PyRef v) { need(stack_.size() < kMaxStack, "too many objects"); stack_.push_back(std::move(v)); }
  PyRef pop() {
    need(!stack_.empty() && (marks_.empty() || stack_.size() > marks_.back()), "stack underflow");
    auto v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  const PyRef& top() { need(!stack_.empty(), "stack underflow"); return stack_.back(); }
  std::vector<PyRef> pop_mark() {
    need(!marks_.empty(), "no MARK");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> v(stack_.begin() + std::ptrdiff_t(m), stack_.end());
    stack_.resize(m);
    return v;
  }
  void memo(uint64_t idx) {
    need(idx < kMaxMemo, "memo index too large");
    if (memo_.size() <= idx) memo_.resize(size_t(idx) + 1);
    memo_[size_t(idx)] = top();
    memo_next_ = std::max(memo_next_, idx + 1);
  }
  PyRef get(uint64_t idx) {
    need(idx < memo_.size() && memo_[size_t(idx)], "memo entry " + std::to_string(idx) + " was never stored");
    return memo_[size_t(idx)];
  }

  // ('storage', <StorageType>, key, location, numel)
  PyRef persistent(const PyRef& pid) {
    need(pid->kind == Kind::Tuple && pid->items.size() == 5 && pid->items[0]->kind == Kind::Str &&
             pid->items[0]->s == "storage" && pid->items[1]->kind == Kind::Global &&
             pid->items[2]->kind == Kind::Str && pid->items[4]->kind == Kind::Int,
         "persistent id is not a torch storage reference");
    bool ok = false;
    auto p = make(Kind::Storage);
    p->dtype = storage_dtype(pid->items[1]->s, ok);
    need(ok, "'" + pid->items[1]->s + "' is not a storage type");
    p->s = pid->items[2]->s;
    p->numel = pid->items[4]->i;
    need(p->numel >= 0, "negative storage size");
    return p;
  }

  static bool int_tuple(const PyRef& t, Shape& out) {
    if (t->kind != Kind::Tuple) return false;
    for (const auto& v : t->items) {
      if (v->kind != Kind::Int) return false;
      out.push_back(v->i);
    }
    return true;
  }

  PyRef call(const PyRef& fn, const PyRef& args) {
    need(fn->kind == Kind::Global && allowed_call(fn->s), "REDUCE of something that is not an allowed call");
    need(args->kind == Kind::Tuple, "call arguments are not a tuple");
    const auto& a = args->items;
    if (fn->s == "collections.OrderedDict") {
      need(a.empty(), "OrderedDict with arguments");
      return make(Kind::Dict);
    }
    if (fn->s == "torch._utils._rebuild_parameter") {
      need(a.size() >= 1 && a[0]->kind == Kind::Tensor, "_rebuild_parameter without a tensor");
      return a[0];
    }
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])
    need(a.size() >= 4 && a[0]->kind == Kind::Storage && a[1]->kind == Kind::Int,
         "_rebuild_tensor_v2 with unexpected arguments");
    auto t = make(Kind::Tensor);
    t->storage = a[0];
    t->offset = a[1]->i;
    need(int_tuple(a[2], t->size) && int_tuple(a[3], t->stride) && t->size.size() == t->stride.size(),
         "tensor size/stride are not matching integer tuples");
    return t;
  }

  PyRef finish() {
    need(stack_.size() == 1 && marks_.empty(), "STOP with " + std::to_string(stack_.size()) + " values on the stack");
    return stack_.back();
  }

  const uint8_t* data_;
  size_t size_, pos_ = 0, op_at_ = 0;
  const std::string& file_;
  std::vector<PyRef> stack_, memo_;
  std::vector<size_t> marks_;
  uint64_t memo_next_ = 0;
};
}  // namespace

PyRef unpickle(const uint8_t* data, size_t size, const std::string& file) {
  return Unpickler(data, size, file).run();
}

}  // namespace perfmamba
