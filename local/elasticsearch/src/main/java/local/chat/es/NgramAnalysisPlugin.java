package local.chat.es;

import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.miscellaneous.ASCIIFoldingFilter;
import org.apache.lucene.analysis.ngram.EdgeNGramTokenizer;
import org.apache.lucene.analysis.ngram.NGramTokenizer;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.index.IndexSettings;
import org.elasticsearch.index.analysis.AbstractTokenFilterFactory;
import org.elasticsearch.index.analysis.AbstractTokenizerFactory;
import org.elasticsearch.index.analysis.NormalizingTokenFilterFactory;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.IntPredicate;

/**
 * The few analysis-common components the chat product needs, which the analysis-common module
 * (not published to Maven Central) would normally provide: the {@code ngram} and
 * {@code edge_ngram} tokenizers and the {@code asciifolding} token filter. The server already has
 * a pre-configured {@code lowercase} token filter. Settings follow the ES reference:
 * {@code min_gram}, {@code max_gram}, {@code token_chars}, {@code custom_token_chars},
 * {@code preserve_original}, and {@code index.max_ngram_diff} for {@code ngram}.
 */
public class NgramAnalysisPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of("ngram", NgramAnalysisPlugin::ngram, "edge_ngram", NgramAnalysisPlugin::edgeNgram);
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of("asciifolding", (indexSettings, env, name, settings) -> asciiFolding(name, settings));
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
