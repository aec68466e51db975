// The dataset file: bit-exact round trip, validation on read, atomic writes.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "trainer/data/data_testing.h"
#include "trainer/data/dataset.h"

namespace hybrec::trainer {
namespace {

using testing::error_of;
using testing::ScratchDir;

// 3 users, 4 items (item 3 cold), 7 events, text with UTF-8 and an empty row.
Dataset small_dataset() {
  Dataset d;
  d.name = "tiny";
  d.num_users = 3;
  d.num_items = 4;
  d.user = {0, 0, 0, 1, 1, 2, 2};
  d.item = {0, 1, 3, 2, 0, 1, 2};
  d.rating = {4.5f, 5.0f, 1.0f, 0.1f, 3.25f, 1e-8f, 2.0f};
  d.timestamp = {10, 20, 25, 5, 6, -3, 1'700'000'000'000};
  d.item_cold = {0, 0, 0, 1};
  d.item_text = {"Amélie (2001) | Comedy Romance", "", "a \"quoted\", text", "x"};
  d.user_text = {"likes films", "", "ünïcode"};
  d.pair_text_user = {2, 0, 2};
  d.pair_text_item = {1, 3, 1};
  d.pair_text = {"dark comedy", "", "witty, dry"};
  d.text_dim = 3;
  d.item_text_emb = {0.6f, 0.8f, 0.0f, 0, 0, 0, 1.0f / 3, 2.0f / 3, 2.0f / 3, -1, 0, 0};
  d.text_encoder = "hashing";
  assign_splits(d);
  return d;
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Opens `path` read-write and runs `edit` on the file, to damage it.
template <typename Edit>
void edit_file(const std::string& path, Edit edit) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  edit(file);
  ASSERT_GE(H5Fclose(file), 0);
}

TEST(DatasetFile, RoundTripIsBitExact) {
  ScratchDir dir;
  const Dataset d = small_dataset();
  write_dataset(d, dir.file("d.h5"));
  const Dataset r = read_dataset(dir.file("d.h5"));
  EXPECT_EQ(r.name, d.name);
  EXPECT_EQ(r.num_users, d.num_users);
  EXPECT_EQ(r.num_items, d.num_items);
  EXPECT_TRUE(same_bits(r.user, d.user));
  EXPECT_TRUE(same_bits(r.item, d.item));
  EXPECT_TRUE(same_bits(r.rating, d.rating));
  EXPECT_TRUE(same_bits(r.timestamp, d.timestamp));
  EXPECT_TRUE(same_bits(r.split, d.split));
  EXPECT_TRUE(same_bits(r.item_cold, d.item_cold));
  EXPECT_EQ(r.item_text, d.item_text);
  EXPECT_EQ(r.user_text, d.user_text);
  EXPECT_EQ(r.pair_text_user, d.pair_text_user);
  EXPECT_EQ(r.pair_text_item, d.pair_text_item);
  EXPECT_EQ(r.pair_text, d.pair_text);
  EXPECT_EQ(r.text_dim, d.text_dim);
  EXPECT_TRUE(same_bits(r.item_text_emb, d.item_text_emb));
  EXPECT_EQ(r.text_encoder, d.text_encoder);
  EXPECT_EQ(r.user_offsets, (std::vector<int64_t>{0, 3, 5, 7}));
}

TEST(DatasetFile, OptionalPartsMayBeAbsent) {
  ScratchDir dir;
  Dataset d = small_dataset();
  d.user_text.clear();
  d.pair_text_user.clear();
  d.pair_text_item.clear();
  d.pair_text.clear();
  d.text_dim = 0;
  d.item_text_emb.clear();
  d.text_encoder.clear();
  write_dataset(d, dir.file("d.h5"));
  const Dataset r = read_dataset(dir.file("d.h5"));
  EXPECT_TRUE(r.user_text.empty());
  EXPECT_TRUE(r.pair_text.empty());
  EXPECT_EQ(r.text_dim, 0);
  EXPECT_TRUE(r.item_text_emb.empty());
}

TEST(DatasetFile, EmptyDatasetRoundTrips) {
  ScratchDir dir;
  Dataset d;
  d.name = "empty";
  finalize(d);
  write_dataset(d, dir.file("e.h5"));
  const Dataset r = read_dataset(dir.file("e.h5"));
  EXPECT_EQ(r.num_interactions(), 0);
  EXPECT_EQ(r.user_offsets, std::vector<int64_t>{0});
}

TEST(DatasetFile, MissingFileIsNamed) {
  const std::string msg = error_of([] { read_dataset("/nonexistent/dir/x.h5"); });
  EXPECT_NE(msg.find("dataset file /nonexistent/dir/x.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;
}

TEST(DatasetFile, NotAnHdf5FileIsReported) {
  ScratchDir dir;
  testing::write_text(dir.file("junk.h5"), "not hdf5 at all");
  const std::string msg = error_of([&] { read_dataset(dir.file("junk.h5")); });
  EXPECT_NE(msg.find("dataset file " + dir.file("junk.h5") + ": H5Fopen failed"), std::string::npos)
      << msg;
}

TEST(DatasetFile, WrongSchemaVersionNamesFoundAndExpected) {
  ScratchDir dir;
  write_dataset(small_dataset(), dir.file("d.h5"));
  edit_file(dir.file("d.h5"), [](hid_t file) {
    const int32_t version = 7;
    const hid_t attr = H5Aopen(file, "schema_version", H5P_DEFAULT);
    ASSERT_GE(H5Awrite(attr, H5T_NATIVE_INT32, &version), 0);
    H5Aclose(attr);
  });
  const std::string msg = error_of([&] { read_dataset(dir.file("d.h5")); });
  EXPECT_NE(msg.find(dir.file("d.h5")), std::string::npos) << msg;
  EXPECT_NE(msg.find("schema_version 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected 1"), std::string::npos) << msg;
}

TEST(DatasetFile, MissingDatasetIsNamed) {
  ScratchDir dir;
  write_dataset(small_dataset(), dir.file("d.h5"));
  edit_file(dir.file("d.h5"),
            [](hid_t file) { ASSERT_GE(H5Ldelete(file, "/interactions/split", H5P_DEFAULT), 0); });
  const std::string msg = error_of([&] { read_dataset(dir.file("d.h5")); });
  EXPECT_NE(msg.find("dataset file " + dir.file("d.h5")), std::string::npos) << msg;
  EXPECT_NE(msg.find("'split' is missing"), std::string::npos) << msg;
}

TEST(DatasetFile, ItemIdOutOfRangeNamesValueDatasetAndRow) {
  ScratchDir dir;
  write_dataset(small_dataset(), dir.file("d.h5"));
  edit_file(dir.file("d.h5"), [](hid_t file) {
    const hid_t ds = H5Dopen2(file, "/interactions/item", H5P_DEFAULT);
    int64_t items[7];
    ASSERT_GE(H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, items), 0);
    items[5] = 90211;
    ASSERT_GE(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, items), 0);
    H5Dclose(ds);
  });
  const std::string msg = error_of([&] { read_dataset(dir.file("d.h5")); });
  EXPECT_NE(msg.find("item id 90211 out of range [0, 4) in /interactions/item at row 5"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(dir.file("d.h5")), std::string::npos) << msg;
}

TEST(DatasetFile, PairTextUserOutOfRangeAndLengthMismatchAreNamed) {
  ScratchDir dir;
  write_dataset(small_dataset(), dir.file("d.h5"));
  edit_file(dir.file("d.h5"), [](hid_t file) {
    const hid_t ds = H5Dopen2(file, "/pair_text/user", H5P_DEFAULT);
    int64_t users[3];
    ASSERT_GE(H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, users), 0);
    users[1] = 3;
    ASSERT_GE(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, users), 0);
    H5Dclose(ds);
  });
  std::string msg = error_of([&] { read_dataset(dir.file("d.h5")); });
  EXPECT_NE(msg.find("user id 3 out of range [0, 3) in /pair_text/user at row 1"),
            std::string::npos)
      << msg;

  Dataset d = small_dataset();
  d.pair_text_item.pop_back();
  msg = error_of([&] { write_dataset(d, dir.file("e.h5")); });
  EXPECT_NE(msg.find("/pair_text/item has 2 rows, expected 3"), std::string::npos) << msg;
}

TEST(DatasetFile, LengthMismatchIsNamed) {
  ScratchDir dir;
  write_dataset(small_dataset(), dir.file("d.h5"));
  edit_file(dir.file("d.h5"), [](hid_t file) {
    const hid_t ds = H5Dopen2(file, "/interactions/timestamp", H5P_DEFAULT);
    const hsize_t rows = 5;
    ASSERT_GE(H5Dset_extent(ds, &rows), 0);
    H5Dclose(ds);
  });
  const std::string msg = error_of([&] { read_dataset(dir.file("d.h5")); });
  EXPECT_NE(msg.find("/interactions/timestamp has 5 rows, expected 7"), std::string::npos) << msg;
}

TEST(DatasetFile, BadSplitCodeAndTextEmbShapeAreNamed) {
  ScratchDir dir;
  write_dataset(small_dataset(), dir.file("d.h5"));
  edit_file(dir.file("d.h5"), [](hid_t file) {
    const hid_t ds = H5Dopen2(file, "/interactions/split", H5P_DEFAULT);
    uint8_t codes[7];
    ASSERT_GE(H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, codes), 0);
    codes[2] = 9;
    ASSERT_GE(H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, codes), 0);
    H5Dclose(ds);
  });
  std::string msg = error_of([&] { read_dataset(dir.file("d.h5")); });
  EXPECT_NE(msg.find("split code 9 out of range [0, 3] in /interactions/split at row 2"),
            std::string::npos)
      << msg;

  write_dataset(small_dataset(), dir.file("e.h5"));
  edit_file(dir.file("e.h5"), [](hid_t file) {
    const hid_t ds = H5Dopen2(file, "/items/text_emb", H5P_DEFAULT);
    const hsize_t dims[2] = {3, 3};
    ASSERT_GE(H5Dset_extent(ds, dims), 0);
    H5Dclose(ds);
  });
  msg = error_of([&] { read_dataset(dir.file("e.h5")); });
  EXPECT_NE(msg.find("/items/text_emb has 3 rows, expected 4"), std::string::npos) << msg;
}

TEST(DatasetFile, InvalidDatasetLeavesExistingFileIntact) {
  ScratchDir dir;
  const std::string path = dir.file("d.h5");
  write_dataset(small_dataset(), path);
  const auto size = std::filesystem::file_size(path);
  Dataset bad = small_dataset();
  bad.item[1] = 4;
  const std::string msg = error_of([&] { write_dataset(bad, path); });
  EXPECT_NE(msg.find("item id 4 out of range [0, 4) in /interactions/item at row 1"),
            std::string::npos)
      << msg;
  EXPECT_EQ(std::filesystem::file_size(path), size);
  EXPECT_EQ(read_dataset(path).item, small_dataset().item);
}

TEST(DatasetFile, FailureMidWriteRemovesTempAndKeepsOldFile) {
  ScratchDir dir;
  const std::string path = dir.file("d.h5");
  write_dataset(small_dataset(), path);
  Dataset bad = small_dataset();
  // Passes the schema checks, fails inside the HDF5 writer (after the
  // temporary file exists).
  bad.item_text[2] = std::string("nul\0byte", 8);
  const std::string msg = error_of([&] { write_dataset(bad, path); });
  EXPECT_NE(msg.find("dataset file " + path), std::string::npos) << msg;
  EXPECT_NE(msg.find("null byte"), std::string::npos) << msg;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "d.h5");
  }
  EXPECT_EQ(files, 1);
  EXPECT_EQ(read_dataset(path).item_text, small_dataset().item_text);
}

TEST(DatasetFile, UnwritableDirectoryIsReported) {
  const std::string msg = error_of([] { write_dataset(small_dataset(), "/nonexistent/dir/d.h5"); });
  EXPECT_NE(msg.find("dataset file /nonexistent/dir/d.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("H5Fcreate failed"), std::string::npos) << msg;
}

TEST(DatasetFile, WriteTextEmbeddingsReplacesOnlyTheEmbeddings) {
  ScratchDir dir;
  const std::string path = dir.file("d.h5");
  write_dataset(small_dataset(), path);
  const std::vector<float> emb(4 * 2, 0.5f);
  write_text_embeddings(path, 2, emb, "some-lm");
  const Dataset r = read_dataset(path);
  EXPECT_EQ(r.text_dim, 2);
  EXPECT_EQ(r.item_text_emb, emb);
  EXPECT_EQ(r.text_encoder, "some-lm");
  EXPECT_EQ(r.item, small_dataset().item);
  const std::string msg = error_of([&] { write_text_embeddings(path, 3, emb, "some-lm"); });
  EXPECT_NE(msg.find("/items/text_emb has 8 values, expected num_items 4 x text_dim 3"),
            std::string::npos)
      << msg;
  EXPECT_EQ(read_dataset(path).text_dim, 2);
}

TEST(DatasetFile, UserTextEmbeddingsRoundTripBesideTheItems) {
  ScratchDir dir;
  const std::string path = dir.file("d.h5");
  write_dataset(small_dataset(), path);
  const std::vector<float> users = {0.6f, 0.8f, 0, 0, -1, 0};  // 3 users x 2
  write_text_embeddings(path, 2, users, "all-MiniLM-L6-v2", TextField::kUsers);
  const Dataset r = read_dataset(path);
  EXPECT_EQ(r.user_text_dim, 2);
  EXPECT_EQ(r.user_text_emb, users);
  EXPECT_EQ(r.user_text_encoder, "all-MiniLM-L6-v2");
  EXPECT_EQ(r.user_text, small_dataset().user_text);
  EXPECT_EQ(r.text_dim, 3);  // the items' table untouched
  EXPECT_EQ(r.item_text_emb, small_dataset().item_text_emb);
  const std::string msg = error_of(
      [&] { write_text_embeddings(path, 4, users, "x", TextField::kUsers); });
  EXPECT_NE(msg.find("/users/text_emb has 6 values, expected num_users 3 x text_dim 4"),
            std::string::npos)
      << msg;
  EXPECT_EQ(read_dataset(path).user_text_dim, 2);
}

}  // namespace
}  // namespace hybrec::trainer
