#include "launch/report_plot.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <system_error>

#include "hybrec/kernels/error.h"

namespace hybrec::launch {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPackage = "gnuplot-nox";
constexpr unsigned char kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

// The first executable `name` in the directories of $PATH.
std::optional<std::string> find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate.string();
  }
  return std::nullopt;
}

// A directory of our own under the system's temporary directory, removed
// with its contents when this goes out of scope.
class ScratchDir {
 public:
  ScratchDir() {
    std::string name = (fs::temp_directory_path() / "hybrec-plot-XXXXXX").string();
    HYBREC_CHECK(::mkdtemp(name.data()) != nullptr, "cannot create a temporary directory ", name,
                 ": ", std::strerror(errno));
    path_ = name;
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  HYBREC_CHECK(out.good(), "cannot write ", path);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A gnuplot single-quoted string: a quote inside is doubled.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// A double-quoted string column of a gnuplot data file (which has no escape
// for '"').
std::string data_label(std::string s) {
  std::replace(s.begin(), s.end(), '"', '\'');
  return "\"" + s + "\"";
}

std::string number(double v) {
  std::ostringstream out;
  out.precision(10);
  out << v;
  return out.str();
}

// The end of what gnuplot printed, for an error message.
std::string tail(std::string text, std::size_t max_chars = 2000) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  if (text.size() <= max_chars) return text;
  return "..." + text.substr(text.size() - max_chars);
}

// Runs `exe script` in `dir`, its output into `log`; returns the exit status,
// or -1 when it did not exit normally.
int run_gnuplot(const std::string& exe, const ScratchDir& dir, const std::string& script,
                const std::string& log) {
  const pid_t pid = ::fork();
  HYBREC_CHECK(pid >= 0, "cannot start ", exe, ": fork: ", std::strerror(errno));
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec.
    const int null_in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (null_in < 0 || out < 0 || ::chdir(dir.path().c_str()) != 0) ::_exit(126);
    ::dup2(null_in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    char* const argv[] = {const_cast<char*>("gnuplot"), const_cast<char*>(script.c_str()), nullptr};
    ::execv(exe.c_str(), argv);
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    HYBREC_CHECK(errno == EINTR, "waiting for ", exe, ": ", std::strerror(errno));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A panel with nothing to plot: its title and a note in an empty frame.
void empty_panel(std::ostream& gp, const std::string& note) {
  gp << "set xrange [0:1]\nset yrange [0:1]\nunset xtics\nunset ytics\n"
     << "set label 1 " << quoted(note) << " at graph 0.5,0.5 center\n"
     << "plot 2 notitle\n"
     << "unset label 1\nset xtics\nset ytics\nset autoscale\n";
}

// One line per run with points in `curve_of(run)`; data files <stem>_<i>.dat.
template <typename CurveOf>
void curve_panel(std::ostream& gp, const ScratchDir& dir, const std::vector<RunMetrics>& runs,
                 const std::string& stem, const std::string& title, const std::string& ylabel,
                 const std::string& key, CurveOf curve_of) {
  gp << "set title " << quoted(title) << "\nset xlabel 'step'\nset ylabel " << quoted(ylabel)
     << "\nset key " << key << "\nset offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05\n";
  std::vector<std::string> plots;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const std::vector<CurvePoint>& curve = curve_of(runs[i]);
    if (curve.empty()) continue;
    const std::string file = stem + "_" + std::to_string(i) + ".dat";
    std::string data;
    for (const auto& p : curve) data += std::to_string(p.step) + " " + number(p.value) + "\n";
    write_text(dir.file(file), data);
    // A run keeps its colour in both panels.
    plots.push_back(quoted(file) + " using 1:2 with linespoints linecolor " +
                    std::to_string(i + 1) + " pointsize 0.6 title " + quoted(runs[i].name));
  }
  if (plots.empty()) {
    empty_panel(gp, "none logged");
  } else {
    gp << "plot ";
    for (std::size_t i = 0; i < plots.size(); ++i) gp << (i ? ", \\\n     " : "") << plots[i];
    gp << "\n";
  }
  gp << "unset xlabel\nunset ylabel\nset offsets 0, 0, 0, 0\n";
}

// Test HR@K, one group of bars (warm, cold, cold_all) per model.
void bar_panel(std::ostream& gp, const ScratchDir& dir, const std::vector<RunMetrics>& runs,
               const std::string& hr, int width) {
  gp << "set title " << quoted("test " + hr + " per model and subset") << "\n";
  std::string data;
  double top = 0;
  bool any = false;  // some model has some HR@K
  int rows = 0;
  std::size_t widest = 0;  // the longest model name
  for (const auto& run : runs) {
    for (const auto& model : run.models) {
      data += data_label(model.name);
      for (const auto& s : model.subsets) {
        data += " " + (s.hr ? number(*s.hr) : std::string("-"));
        if (!s.hr) continue;
        top = std::max(top, *s.hr);
        any = true;
      }
      data += "\n";
      ++rows;
      widest = std::max(widest, model.name.size());
    }
  }
  if (!any) {
    empty_panel(gp, "no test results");
    return;
  }
  write_text(dir.file("bars.dat"), data);
  // Names side by side at about 7 pixels a character (sans 10), else slanted.
  const bool label_fits = static_cast<double>(rows) * (widest + 2) * 7 < 0.9 * width;
  gp << "set style data histogram\nset style histogram clustered gap 1\n"
     << "set style fill solid 0.85 border -1\nset boxwidth 0.9\n"
     << "set xrange [-0.6:" << rows - 0.4
     << "]\nset yrange [0:" << number(top > 0 ? top * 1.3 : 1.0) << "]\n"
     << "set ylabel " << quoted(hr) << "\nset key top right horizontal\n"
     << "set xtics nomirror" << (label_fits ? "" : " rotate by -25 left") << "\n"
     << "plot 'bars.dat' using 2:xtic(1) title 'warm', '' using 3 title 'cold', "
        "'' using 4 title 'cold_all'\n";
}

std::string plot_script(const ScratchDir& dir, const std::vector<RunMetrics>& runs, int k,
                        const PlotSize& size) {
  const std::string hr = "HR@" + std::to_string(k);
  std::ostringstream gp;
  // pngcairo draws antialiased; gnuplot builds without cairo have only png.
  gp << "if (strstrt(GPVAL_TERMINALS, ' pngcairo ') > 0) {\n"
     << "  set terminal pngcairo size " << size.width << "," << size.height
     << " noenhanced font 'sans,10'\n"
     << "} else {\n"
     << "  set terminal png size " << size.width << "," << size.height << " noenhanced\n"
     << "}\n"
     << "set output 'plot.png'\n"
     << "set datafile missing '-'\n"
     << "set grid ytics\n"
     << "set multiplot title 'hybrec report'\n";
  gp << "set origin 0,0.48\nset size 0.5,0.47\n";
  curve_panel(gp, dir, runs, "loss", "training loss", "loss", "top right",
              [](const RunMetrics& r) -> const std::vector<CurvePoint>& { return r.train_loss; });
  gp << "set origin 0.5,0.48\nset size 0.5,0.47\n";
  curve_panel(gp, dir, runs, "valid", "validation " + hr + " (warm)", hr, "bottom right",
              [](const RunMetrics& r) -> const std::vector<CurvePoint>& { return r.valid_hr; });
  gp << "set origin 0,0\nset size 1,0.48\n";
  bar_panel(gp, dir, runs, hr, size.width);
  gp << "unset multiplot\nset output\n";
  return gp.str();
}

}  // namespace

void write_report_plot(const std::vector<RunMetrics>& runs, int k, const std::string& png_path,
                       const PlotSize& size) {
  std::error_code ec;
  HYBREC_CHECK(!fs::is_directory(png_path, ec), "--plot ", png_path, " is a directory");
  const std::string tmp_path = png_path + ".tmp";
  std::ofstream out(tmp_path, std::ios::binary | std::ios::trunc);
  HYBREC_CHECK(out.is_open(), "--plot: cannot write ", tmp_path, ": ", std::strerror(errno));
  // From here on a failure removes the .tmp (so a missing gnuplot leaves
  // none either); png_path is only ever renamed onto.
  struct RemoveOnFailure {
    const std::string& path;
    bool keep = false;
    ~RemoveOnFailure() {
      std::error_code ignored;
      if (!keep) fs::remove(path, ignored);
    }
  } remove_tmp{tmp_path};

  const std::optional<std::string> gnuplot = find_on_path("gnuplot");
  HYBREC_CHECK(gnuplot,
               "--plot: gnuplot not found on PATH; it draws the plot: install the "
               "Debian package ",
               kPackage, " (sudo apt-get install ", kPackage, ", or scripts/setup-deps.sh)");

  std::string png;
  {
    const ScratchDir dir;
    write_text(dir.file("plot.gp"), plot_script(dir, runs, k, size));
    const std::string log = dir.file("gnuplot.log");
    const int status = run_gnuplot(*gnuplot, dir, "plot.gp", log);
    const std::string printed = tail(read_bytes(log));
    HYBREC_CHECK(status == 0, "--plot: ", *gnuplot, " failed (exit status ", status, ")",
                 printed.empty() ? "" : ":\n", printed);
    png = read_bytes(dir.file("plot.png"));
    HYBREC_CHECK(png.size() > sizeof kPngSignature &&
                     std::memcmp(png.data(), kPngSignature, sizeof kPngSignature) == 0,
                 "--plot: ", *gnuplot, " wrote no PNG", printed.empty() ? "" : ":\n", printed);
  }
  out.write(png.data(), static_cast<std::streamsize>(png.size()));
  out.close();
  HYBREC_CHECK(out.good(), "--plot: cannot write ", tmp_path, " (disk full?)");
  fs::rename(tmp_path, png_path, ec);
  HYBREC_CHECK(!ec, "--plot: cannot rename ", tmp_path, " to ", png_path, ": ", ec.message());
  remove_tmp.keep = true;
}

}  // namespace hybrec::launch
