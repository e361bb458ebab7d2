package local.chat.es;

import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.charfilter.MappingCharFilter;
import org.apache.lucene.analysis.charfilter.NormalizeCharMap;
import org.apache.lucene.analysis.cjk.CJKBigramFilter;
import org.apache.lucene.analysis.miscellaneous.ASCIIFoldingFilter;
import org.apache.lucene.analysis.ngram.EdgeNGramTokenFilter;
import org.apache.lucene.analysis.ngram.EdgeNGramTokenizer;
import org.apache.lucene.analysis.ngram.NGramTokenizer;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.index.IndexSettings;
import org.elasticsearch.index.analysis.AbstractCharFilterFactory;
import org.elasticsearch.index.analysis.AbstractTokenFilterFactory;
import org.elasticsearch.index.analysis.AbstractTokenizerFactory;
import org.elasticsearch.index.analysis.CharFilterFactory;
import org.elasticsearch.index.analysis.NormalizingCharFilterFactory;
import org.elasticsearch.index.analysis.NormalizingTokenFilterFactory;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.lucene.analysis.miscellaneous.DisableGraphAttribute;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

import java.io.Reader;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.IntPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The few analysis-common components the chat product needs, which the analysis-common module
 * (not published to Maven Central) would normally provide, under the same names and settings, so
 * one index body works here and on a stock Elasticsearch: the {@code ngram} and {@code edge_ngram}
 * tokenizers; the {@code asciifolding}, {@code edge_ngram} and {@code cjk_bigram} token filters;
 * the {@code mapping} char filter. The server already has the
 * {@code standard} tokenizer and a pre-configured {@code lowercase} token filter. Settings follow
 * the ES reference: {@code min_gram}, {@code max_gram}, {@code token_chars},
 * {@code custom_token_chars}, {@code preserve_original}, {@code index.max_ngram_diff} for
 * {@code ngram}; {@code output_unigrams}, {@code ignored_scripts}; {@code mappings}. Each wraps the Lucene class ES's own
 * factory wraps, so the tokens are the same.
 */
public class NgramAnalysisPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of("ngram", NgramAnalysisPlugin::ngram, "edge_ngram", NgramAnalysisPlugin::edgeNgram);
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of(
            "asciifolding", (indexSettings, env, name, settings) -> asciiFolding(name, settings),
            "edge_ngram", (indexSettings, env, name, settings) -> edgeNgramFilter(name, settings),
            "cjk_bigram", (indexSettings, env, name, settings) -> cjkBigram(name, settings)
        );
    }

    @Override
    public Map<String, AnalysisProvider<CharFilterFactory>> getCharFilters() {
        return Map.of(
            // As ES registers it: without settings of its own, it cannot be built.
            "mapping", AnalysisPlugin.requiresAnalysisSettings((indexSettings, env, name, settings) -> mapping(name, settings))
        );
    }

    private static TokenizerFactory ngram(IndexSettings indexSettings, Environment env, String name, Settings settings) {
        int minGram = settings.getAsInt("min_gram", 1);
        int maxGram = settings.getAsInt("max_gram", 2);
        int allowedDiff = indexSettings.getMaxNgramDiff();
        if (maxGram - minGram > allowedDiff) {
            throw new IllegalArgumentException(
                "The difference between max_gram and min_gram in NGram Tokenizer must be less than or equal to: ["
                    + allowedDiff + "] but was [" + (maxGram - minGram) + "]. This limit can be set by changing the ["
                    + IndexSettings.MAX_NGRAM_DIFF_SETTING.getKey() + "] index level setting."
            );
        }
        IntPredicate tokenChar = tokenChars(settings);
        return new AbstractTokenizerFactory(indexSettings, settings, name) {
            @Override
            public Tokenizer create() {
                return new NGramTokenizer(minGram, maxGram) {
                    @Override
                    protected boolean isTokenChar(int chr) {
                        return tokenChar.test(chr);
                    }
                };
            }
        };
    }

    private static TokenizerFactory edgeNgram(IndexSettings indexSettings, Environment env, String name, Settings settings) {
        int minGram = settings.getAsInt("min_gram", 1);
        int maxGram = settings.getAsInt("max_gram", 2);
        IntPredicate tokenChar = tokenChars(settings);
        return new AbstractTokenizerFactory(indexSettings, settings, name) {
            @Override
            public Tokenizer create() {
                return new EdgeNGramTokenizer(minGram, maxGram) {
                    @Override
                    protected boolean isTokenChar(int chr) {
                        return tokenChar.test(chr);
                    }
                };
            }
        };
    }

    private static TokenFilterFactory asciiFolding(String name, Settings settings) {
        boolean preserveOriginal = settings.getAsBoolean("preserve_original", false);
        class AsciiFolding extends AbstractTokenFilterFactory implements NormalizingTokenFilterFactory {
            AsciiFolding() {
                super(name, settings);
            }

            @Override
            public TokenStream create(TokenStream tokenStream) {
                return new ASCIIFoldingFilter(tokenStream, preserveOriginal);
            }
        }
        return new AsciiFolding();
    }

    private static TokenFilterFactory edgeNgramFilter(String name, Settings settings) {
        int minGram = settings.getAsInt("min_gram", 1);
        int maxGram = settings.getAsInt("max_gram", 2);
        boolean preserveOriginal = settings.getAsBoolean("preserve_original", false);
        if (!"front".equals(settings.get("side", "front"))) {
            throw new IllegalArgumentException("edge_ngram: only side [front] is supported here");
        }
        return new AbstractTokenFilterFactory(name, settings) {
            @Override
            public TokenStream create(TokenStream tokenStream) {
                return new EdgeNGramTokenFilter(tokenStream, minGram, maxGram, preserveOriginal);
            }
        };
    }

    private static TokenFilterFactory cjkBigram(String name, Settings settings) {
        boolean outputUnigrams = settings.getAsBoolean("output_unigrams", false);
        Set<String> ignored = Set.copyOf(settings.getAsList("ignored_scripts"));
        int flags = 0;
        for (Map.Entry<String, Integer> script : Map.of(
            "han", CJKBigramFilter.HAN, "hiragana", CJKBigramFilter.HIRAGANA,
            "katakana", CJKBigramFilter.KATAKANA, "hangul", CJKBigramFilter.HANGUL
        ).entrySet()) {
            if (!ignored.contains(script.getKey())) {
                flags |= script.getValue();
            }
        }
        int scripts = flags;
        return new AbstractTokenFilterFactory(name, settings) {
            @Override
            public TokenStream create(TokenStream tokenStream) {
                CJKBigramFilter filter = new CJKBigramFilter(tokenStream, scripts, outputUnigrams);
                if (outputUnigrams) {
                    // As ES does: unigrams and bigrams at once are no graph a query should follow.
                    filter.addAttribute(DisableGraphAttribute.class);
                }
                return filter;
            }
        };
    }

    private static final Pattern MAPPING_RULE = Pattern.compile("(.*)\\s*=>\\s*(.*)\\s*$");

    private static CharFilterFactory mapping(String name, Settings settings) {
        List<String> rules = settings.getAsList("mappings");
        if (rules.isEmpty()) {
            throw new IllegalArgumentException("mapping requires `mappings` (`mappings_path` is not supported here): " + settings);
        }
        NormalizeCharMap.Builder builder = new NormalizeCharMap.Builder();
        for (String rule : rules) {
            Matcher m = MAPPING_RULE.matcher(rule);
            if (!m.find()) {
                throw new IllegalArgumentException("Invalid Mapping Rule : [" + rule + "]");
            }
            builder.add(unescape(m.group(1).trim()), unescape(m.group(2).trim()));
        }
        NormalizeCharMap map = builder.build();
        class Mapping extends AbstractCharFilterFactory implements NormalizingCharFilterFactory {
            Mapping() {
                super(name);
            }

            @Override
            public Reader create(Reader reader) {
                return new MappingCharFilter(map, reader);
            }
        }
        return new Mapping();
    }

    /** The escapes ES's mapping rules accept: backslash, n, t, r, b, f and uXXXX. */
    static String unescape(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\') {
                if (++i >= s.length()) {
                    throw new IllegalArgumentException("Invalid escaped char in [" + s + "]");
                }
                c = s.charAt(i);
                switch (c) {
                    case 'n' -> c = '\n';
                    case 't' -> c = '\t';
                    case 'r' -> c = '\r';
                    case 'b' -> c = '\b';
                    case 'f' -> c = '\f';
                    case 'u' -> {
                        if (i + 4 >= s.length()) {
                            throw new IllegalArgumentException("Invalid escaped char in [" + s + "]");
                        }
                        c = (char) Integer.parseInt(s.substring(i + 1, i + 5), 16);
                        i += 4;
                    }
                    default -> { }
                }
            }
            out.append(c);
        }
        return out.toString();
    }

    /** {@code token_chars}: which characters belong in a token; none listed means all of them. */
    static IntPredicate tokenChars(Settings settings) {
        List<String> classes = settings.getAsList("token_chars");
        if (classes.isEmpty()) {
            return chr -> true;
        }
        String custom = settings.get("custom_token_chars", "");
        IntPredicate result = chr -> false;
        for (String characterClass : classes) {
            result = result.or(switch (characterClass.trim().toLowerCase(Locale.ROOT)) {
                case "letter" -> Character::isLetter;
                case "digit" -> chr -> Character.getType(chr) == Character.DECIMAL_DIGIT_NUMBER;
                case "whitespace" -> Character::isWhitespace;
                case "punctuation" -> chr -> isPunctuation(Character.getType(chr));
                case "symbol" -> chr -> isSymbol(Character.getType(chr));
                case "custom" -> chr -> custom.indexOf(chr) >= 0;
                default -> throw new IllegalArgumentException(
                    "Unknown token type: '" + characterClass + "', must be one of [letter, digit, whitespace, punctuation, symbol, custom]"
                );
            });
        }
        return result;
    }

    private static boolean isPunctuation(int type) {
        return type == Character.START_PUNCTUATION || type == Character.END_PUNCTUATION
            || type == Character.INITIAL_QUOTE_PUNCTUATION || type == Character.FINAL_QUOTE_PUNCTUATION
            || type == Character.CONNECTOR_PUNCTUATION || type == Character.DASH_PUNCTUATION
            || type == Character.OTHER_PUNCTUATION;
    }

    private static boolean isSymbol(int type) {
        return type == Character.MATH_SYMBOL || type == Character.CURRENCY_SYMBOL
            || type == Character.MODIFIER_SYMBOL || type == Character.OTHER_SYMBOL;
    }
}
