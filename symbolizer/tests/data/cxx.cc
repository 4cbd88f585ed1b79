// Fixture for demangling: namespaces, templates, an anonymous namespace, operators, a lambda, a
// class method, overloads; compared with `addr2line -C`.
#include <cstdio>
#include <vector>
#include <string>
#include <map>

namespace app {
namespace {
struct Point {
    int x, y;
    Point operator+(const Point& o) const { return {x + o.x, y + o.y}; }
};
}  // namespace

template <typename T>
__attribute__((noinline)) T sum(const std::vector<T>& v)
{
    T total{};
    for (const auto& e : v)
        total = total + e;
    return total;
}

class Registry {
public:
    __attribute__((noinline)) void add(const std::string& name, int v) { items_[name] += v; }
    __attribute__((noinline)) int get(const std::string& name) const
    {
        auto it = items_.find(name);
        return it == items_.end() ? 0 : it->second;
    }
    __attribute__((noinline)) int get(int) const { return static_cast<int>(items_.size()); }

private:
    std::map<std::string, int> items_;
};
}  // namespace app

int main(int argc, char**)
{
    std::vector<int> v{1, 2, 3, argc};
    std::vector<app::Point> pts{{1, 2}, {argc, 4}};
    app::Registry r;
    r.add("a", argc);
    auto twice = [&](int x) __attribute__((noinline)) { return x * 2 + r.get(0); };
    auto p = app::sum(pts);
    std::printf("%d %d %d %d\n", app::sum(v), p.x + p.y, r.get("a"), twice(argc));
    return 0;
}
