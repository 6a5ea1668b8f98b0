// .npy reading and writing (loader/npy.h): round trips, dtype conversion on read, and the
// error for each kind of bad file.
#include <catch2/catch.hpp>

#include <cstring>

#include "loader/npy.h"
#include "support/helpers.h"

using namespace krun;
using namespace krun::test;

namespace {

template <class T>
std::string bytes_of(const std::vector<T> & values) {
    return std::string(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(T));
}

}  // namespace

TEST_CASE("npy: float32 and int32 round trips keep shape and values", "[npy]") {
    TempDir dir;
    const std::vector<std::vector<int64_t>> shapes = {{}, {0}, {5}, {2, 3}, {2, 0, 3}, {1, 2, 3}, {2, 1, 2, 3}};
    for (const auto & shape : shapes) {
        INFO("shape " << shape_string(shape));
        Tensor f(shape, DType::Float32), i(shape, DType::Int32);
        for (int64_t k = 0; k < f.size(); ++k) {
            f.data()[k] = 0.25f * static_cast<float>(k) - 1.5f;
            i.data_i32()[k] = static_cast<int32_t>(k * 1000003) - 7;
        }
        const std::string fpath = dir / "f.npy", ipath = dir / "i.npy";
        write_npy(fpath, f);
        write_npy(ipath, i);

        const Tensor f2 = read_npy(fpath), i2 = read_npy(ipath);
        CHECK(f2.dtype() == DType::Float32);
        CHECK(i2.dtype() == DType::Int32);
        REQUIRE(f2.shape() == shape);
        REQUIRE(i2.shape() == shape);
        CHECK(std::memcmp(f2.data(), f.data(), f.size() * 4) == 0);
        CHECK(std::memcmp(i2.data_i32(), i.data_i32(), i.size() * 4) == 0);
        // numpy requires the data to start on a 64-byte boundary.
        const std::string raw = read_file(fpath);
        const size_t header_len = static_cast<unsigned char>(raw[8]) | static_cast<unsigned char>(raw[9]) << 8;
        CHECK((10 + header_len) % 64 == 0);
        CHECK(raw.size() == 10 + header_len + static_cast<size_t>(f.size()) * 4);
    }
}

TEST_CASE("npy: a scalar is written with shape ()", "[npy]") {
    TempDir dir;
    Tensor scalar(std::vector<int64_t>{}, std::vector<float>{3.5f});
    write_npy(dir / "s.npy", scalar);
    CHECK(read_file(dir / "s.npy").find("'shape': ()") != std::string::npos);
    const Tensor back = read_npy(dir / "s.npy");
    CHECK(back.rank() == 0);
    REQUIRE(back.size() == 1);
    CHECK(back.data()[0] == 3.5f);
}

TEST_CASE("npy: float64 converts to float32, int64 to int32", "[npy]") {
    TempDir dir;
    write_file(dir / "f8.npy", npy_file("<f8", "(2, 2)", bytes_of(std::vector<double>{0.1, -2.5, 1e30, 3.0})));
    const Tensor f = read_npy(dir / "f8.npy");
    REQUIRE(f.dtype() == DType::Float32);
    REQUIRE(f.shape() == std::vector<int64_t>{2, 2});
    CHECK(f.data()[0] == 0.1f);  // rounded once from the double
    CHECK(f.data()[1] == -2.5f);
    CHECK(f.data()[2] == 1e30f);
    CHECK(f.data()[3] == 3.0f);

    write_file(dir / "i8.npy", npy_file("<i8", "(3,)", bytes_of(std::vector<int64_t>{-5, 0, 2147483647})));
    const Tensor i = read_npy(dir / "i8.npy");
    REQUIRE(i.dtype() == DType::Int32);
    REQUIRE(i.shape() == std::vector<int64_t>{3});
    CHECK(i.data_i32()[0] == -5);
    CHECK(i.data_i32()[1] == 0);
    CHECK(i.data_i32()[2] == 2147483647);
}

TEST_CASE("npy: bad files give an error naming the file and the problem", "[npy]") {
    TempDir dir;
    const std::string path = dir / "bad.npy";
    const std::string good_data = bytes_of(std::vector<float>{1, 2, 3, 4});

    SECTION("Fortran order") {
        write_file(path, npy_file("<f4", "(2, 2)", good_data, "True"));
        CHECK_THAT(npy_error(path), Catch::Contains("Fortran-order") && Catch::Contains(path));
    }
    SECTION("bad magic") {
        std::string bytes = npy_file("<f4", "(2, 2)", good_data);
        bytes[1] = 'X';
        write_file(path, bytes);
        CHECK_THAT(npy_error(path), Catch::Contains("bad magic") && Catch::Contains(path));
    }
    SECTION("not a .npy file at all") {
        write_file(path, "hello");
        CHECK_THAT(npy_error(path), Catch::Contains("bad magic"));
    }
    SECTION("truncated data") {
        write_file(path, npy_file("<f4", "(2, 2)", good_data.substr(0, 12)));
        CHECK_THAT(npy_error(path), Catch::Contains("truncated .npy data") && Catch::Contains(path));
    }
    SECTION("a huge shape on a small file is refused before allocating") {
        write_file(path, npy_file("<f4", "(100000, 100000, 100000)", good_data));
        CHECK_THAT(npy_error(path), Catch::Contains("truncated .npy data"));
    }
    SECTION("truncated header") {
        write_file(path, npy_file("<f4", "(2, 2)", good_data).substr(0, 30));
        CHECK_THAT(npy_error(path), Catch::Contains("truncated .npy header"));
    }
    SECTION("unsupported dtype") {
        write_file(path, npy_file("<f2", "(2,)", good_data.substr(0, 4)));
        CHECK_THAT(npy_error(path), Catch::Contains("unsupported .npy dtype") && Catch::Contains("<f2"));
    }
    SECTION("big-endian") {
        write_file(path, npy_file(">f4", "(4,)", good_data));
        CHECK_THAT(npy_error(path), Catch::Contains("unsupported .npy dtype"));
    }
    SECTION("int64 value out of int32 range") {
        write_file(path, npy_file("<i8", "(1,)", bytes_of(std::vector<int64_t>{int64_t(1) << 40})));
        CHECK_THAT(npy_error(path), Catch::Contains("does not fit in int32"));
    }
    SECTION("missing file") {
        CHECK_THAT(npy_error(dir / "absent.npy"), Catch::Contains("cannot open file") && Catch::Contains("absent.npy"));
    }
}
