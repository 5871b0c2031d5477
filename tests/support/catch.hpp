// tests/support/catch.hpp — one include for Catch2 v3 (where found) and v2.13 (Debian bookworm).
#pragma once

#if MIXPREC_CATCH2_VERSION == 3
#include <catch2/catch_approx.hpp>
#include <catch2/catch_session.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
using Catch::Approx;
#else
#include <catch2/catch.hpp>
#endif

// Asserts that `expression` throws mixprec::error whose message contains `text`.
#define MIXPREC_REQUIRE_ERROR(expression, text) \
  REQUIRE_THROWS_WITH(expression, Catch::Matchers::Contains(text))
